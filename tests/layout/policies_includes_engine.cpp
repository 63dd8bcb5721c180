// Must not compile: policies/ sits below engine/ and cannot include it (see
// tests/CMakeLists.txt, "layout:"). The first include proves the probe's set-up works.
#include "policies/plan.hpp"
#include "engine/engine.hpp"
