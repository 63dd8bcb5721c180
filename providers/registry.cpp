// The built-in providers: one line each, behind its CMake option.
#include "providers/registry.hpp"

#ifdef SNAPGOV_WITH_LIBVIRT
#include "providers/libvirt/libvirt_provider.hpp"
#endif

namespace snapgov::providers {

ProviderRegistry builtin_registry() {
    ProviderRegistry registry;
#ifdef SNAPGOV_WITH_LIBVIRT
    (void)registry.add(std::make_unique<libvirt::LibvirtFactory>());
#endif
    return registry;
}

} // namespace snapgov::providers
