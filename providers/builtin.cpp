// The built-in providers: one line each, behind its CMake option.
#include "providers/builtin.hpp"

#include <memory>
#include <vector>

#ifdef SNAPGOV_WITH_LIBVIRT
#include "providers/libvirt/libvirt_provider.hpp"
#endif
#ifdef SNAPGOV_WITH_HYPERV
#include "providers/hyperv/hyperv_provider.hpp"
#endif

namespace snapgov::providers {

Result<ProviderRegistry> builtin_registry() {
    std::vector<std::unique_ptr<ProviderFactory>> builtin;
#ifdef SNAPGOV_WITH_LIBVIRT
    builtin.push_back(std::make_unique<libvirt::LibvirtFactory>());
#endif
#ifdef SNAPGOV_WITH_HYPERV
    builtin.push_back(std::make_unique<hyperv::HypervFactory>());
#endif
    ProviderRegistry registry;
    for (auto& factory : builtin) {
        if (auto added = registry.add(std::move(factory)); !added) {
            return tl::unexpected(added.error());
        }
    }
    return registry;
}

} // namespace snapgov::providers
