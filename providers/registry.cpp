#include "providers/registry.hpp"

#include <algorithm>

namespace snapgov::providers {

Result<void> ProviderRegistry::add(std::unique_ptr<ProviderFactory> factory) {
    if (!factory) {
        return fail(ErrorCode::internal, "a null provider factory cannot be registered");
    }
    if (find(factory->type()) != nullptr) {
        return fail(ErrorCode::internal,
                    "provider type '" + std::string(factory->type()) + "' registered twice");
    }
    factories_.push_back(std::move(factory));
    return {};
}

const ProviderFactory* ProviderRegistry::find(std::string_view type) const {
    const auto it = std::find_if(factories_.begin(), factories_.end(),
                                 [&](const auto& f) { return f->type() == type; });
    return it == factories_.end() ? nullptr : it->get();
}

std::vector<std::string> ProviderRegistry::types() const {
    std::vector<std::string> out;
    for (const auto& f : factories_) {
        out.emplace_back(f->type());
    }
    return out;
}

Result<const ProviderFactory*> ProviderRegistry::factory_for(std::string_view provider_name,
                                                             std::string_view type) const {
    if (const auto* factory = find(type)) {
        return factory;
    }
    std::string known;
    for (const auto& t : types()) {
        known += known.empty() ? t : ", " + t;
    }
    return fail(ErrorCode::config, "provider '" + std::string(provider_name) + "' has type '" +
                                       std::string(type) +
                                       "', which this build does not include (built in: " +
                                       (known.empty() ? "none" : known) + ")");
}

Result<const ProviderFactory*> ProviderRegistry::factory_for(const ProviderSpec& spec) const {
    auto factory = factory_for(spec.name, spec.type);
    if (!factory) {
        return tl::unexpected(factory.error().with_context(spec.origin));
    }
    return factory;
}

Result<void> ProviderRegistry::validate(const ProviderSpec& spec) const {
    return factory_for(spec).and_then([&](const ProviderFactory* f) { return f->validate(spec); });
}

Result<std::unique_ptr<Provider>> ProviderRegistry::create(const ProviderSpec& spec,
                                                           const ProviderUse& use) const {
    return factory_for(spec).and_then(
        [&](const ProviderFactory* f) { return f->create(spec, use); });
}

} // namespace snapgov::providers
