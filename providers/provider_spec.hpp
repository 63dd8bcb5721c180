#pragma once
/// A provider's configuration as read from the policy file: the keys every provider has, read
/// by the policy loader, and the provider's own settings, read and checked by its factory
/// (ProviderFactory::parse()).

#include <memory>
#include <string>

#include "core/time.hpp"

namespace snapgov::providers {

/// The settings of one provider type (the libvirt URI; the Hyper-V endpoint, credentials and
/// TLS). Each provider folder defines its own; its factory is the only code that looks inside.
class ProviderSettings {
public:
    virtual ~ProviderSettings() = default;

    /// What reports show as the provider's address: the libvirt URI, the Hyper-V endpoint
    /// URL. Never holds a secret.
    [[nodiscard]] virtual std::string endpoint() const = 0;
};

/// One entry of `providers:` in the policy file.
struct ProviderSpec {
    std::string name; ///< unique within a config
    std::string type; ///< `libvirt`, `hyperv`: the factory that owns `settings`
    Seconds connect_timeout{10};
    Seconds read_timeout{60};
    std::string origin; ///< `FILE:LINE:COL` of the entry, for error messages
    /// The type's own settings, made by its factory; immutable, so specs copy cheaply.
    std::shared_ptr<const ProviderSettings> settings;

    /// settings->endpoint(), or "" without settings.
    [[nodiscard]] std::string endpoint() const { return settings ? settings->endpoint() : ""; }

    /// The settings as the factory's own type `T`, or nullptr when they are missing or of
    /// another type.
    template <class T> [[nodiscard]] const T* settings_as() const {
        return dynamic_cast<const T*>(settings.get());
    }
};

} // namespace snapgov::providers
