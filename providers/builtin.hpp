#pragma once
/// The providers compiled into this build, each behind its CMake option
/// (`SNAPGOV_WITH_LIBVIRT`, `SNAPGOV_WITH_HYPERV`).

#include "providers/registry.hpp"

namespace snapgov::providers {

/// A registry holding every provider compiled into this build, one line each in
/// builtin.cpp. Fails (`internal`) only if two of them claim the same type: a build error
/// that the caller reports before doing anything else.
[[nodiscard]] Result<ProviderRegistry> builtin_registry();

} // namespace snapgov::providers
