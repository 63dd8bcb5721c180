// Must not compile: daemon/ uses the rendering of cli/render/ but not the command line.
#include "cli/render/report.hpp"
#include "cli/cli.hpp"
