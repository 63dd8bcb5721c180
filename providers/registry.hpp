#pragma once
/// The set of provider factories a snapgov process knows. An object passed to whoever
/// needs it, never a global: tests build registries of their own.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "providers/provider.hpp"

namespace snapgov::providers {

class ProviderRegistry {
public:
    /// Adds a factory. Fails (`internal`) if a factory of the same type is already there.
    [[nodiscard]] Result<void> add(std::unique_ptr<ProviderFactory> factory);
    /// The factory for `type`, or nullptr. The registry keeps ownership.
    [[nodiscard]] const ProviderFactory* find(std::string_view type) const;
    /// Known types, in registration order.
    [[nodiscard]] std::vector<std::string> types() const;
    /// Validates a spec with its factory; an unknown type is a `config` error naming the
    /// spec's origin and the types that are built in.
    [[nodiscard]] Result<void> validate(const ProviderSpec& spec) const;
    /// Creates (and connects) a provider for `spec`.
    [[nodiscard]] Result<std::unique_ptr<Provider>> create(const ProviderSpec& spec) const;

private:
    [[nodiscard]] Result<const ProviderFactory*> factory_for(const ProviderSpec& spec) const;

    std::vector<std::unique_ptr<ProviderFactory>> factories_;
};

/// A registry holding every provider compiled into this build (see `registry.cpp`).
[[nodiscard]] ProviderRegistry builtin_registry();

} // namespace snapgov::providers
