// The built-in providers: one line each, behind its CMake option.
#include "providers/registry.hpp"

#ifdef SNAPGOV_WITH_LIBVIRT
#include "providers/libvirt/libvirt_provider.hpp"
#endif
#ifdef SNAPGOV_WITH_HYPERV
#include "providers/hyperv/hyperv_provider.hpp"
#endif

namespace snapgov::providers {

ProviderRegistry builtin_registry() {
    ProviderRegistry registry;
#ifdef SNAPGOV_WITH_LIBVIRT
    (void)registry.add(std::make_unique<libvirt::LibvirtFactory>());
#endif
#ifdef SNAPGOV_WITH_HYPERV
    (void)registry.add(std::make_unique<hyperv::HypervFactory>());
#endif
    return registry;
}

} // namespace snapgov::providers
