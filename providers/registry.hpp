#pragma once
/// The set of provider factories a snapgov process knows. An object passed to whoever
/// needs it, never a global: tests build registries of their own. The built-in set is
/// `builtin_registry()` (builtin.hpp).

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "providers/provider.hpp"

namespace snapgov::providers {

/// Provider factories by type, in registration order. Owns the factories.
class ProviderRegistry {
public:
    /// Adds a factory. Fails (`internal`) if a factory of the same type is already there.
    [[nodiscard]] Result<void> add(std::unique_ptr<ProviderFactory> factory);
    /// The factory for `type`, or nullptr. The registry keeps ownership.
    [[nodiscard]] const ProviderFactory* find(std::string_view type) const;
    /// The factory for `type`; otherwise a `config` error saying that provider
    /// `provider_name` has a type this build does not include, and listing those it does.
    [[nodiscard]] Result<const ProviderFactory*> factory_for(std::string_view provider_name,
                                                             std::string_view type) const;
    /// Known types, in registration order.
    [[nodiscard]] std::vector<std::string> types() const;
    /// Checks a spec with its factory (ProviderFactory::validate()); an unknown type is a
    /// `config` error naming the spec's origin and the types that are built in. A spec that
    /// the policy loader returned has passed these checks already.
    [[nodiscard]] Result<void> validate(const ProviderSpec& spec) const;
    /// Creates (and connects) a provider for `spec` (see ProviderFactory::create()).
    [[nodiscard]] Result<std::unique_ptr<Provider>> create(const ProviderSpec& spec,
                                                           const ProviderUse& use = {}) const;

private:
    [[nodiscard]] Result<const ProviderFactory*> factory_for(const ProviderSpec& spec) const;

    std::vector<std::unique_ptr<ProviderFactory>> factories_;
};

} // namespace snapgov::providers
