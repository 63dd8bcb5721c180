// Must not compile: daemon/ is below the command line and cannot include it.
#include "daemon/daemon.hpp"
#include "cli/cli.hpp"
