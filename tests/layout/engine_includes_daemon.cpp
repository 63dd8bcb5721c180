// Must not compile: engine/ sits below daemon/ and cannot include it.
#include "engine/pass.hpp"
#include "daemon/daemon.hpp"
