#include "providers/libvirt/libvirt_settings.hpp"

#include <optional>

namespace snapgov::providers::libvirt {
namespace {

/// What is wrong with a libvirt setting: the key it is about, and a message that follows
/// `libvirt provider 'NAME'`.
struct Problem {
    std::string key;
    std::string message;
};

std::optional<Problem> problem_with(const LibvirtSettings& s) {
    if (s.uri.empty()) {
        return Problem{"uri", " needs 'uri' (e.g. qemu:///system or test:///abs/path/host.xml)"};
    }
    if (s.uri.rfind("test://", 0) == 0 && s.uri.rfind("test:///", 0) != 0) {
        return Problem{"uri", ": test driver URI '" + s.uri +
                                  "' must be test:///default or test:///ABSOLUTE/PATH"};
    }
    return std::nullopt;
}

} // namespace

std::shared_ptr<const LibvirtSettings> parse_settings(const ConfigSection& entry) {
    const auto errors = entry.file().error_count();
    entry.check_keys({"uri"});
    auto settings = std::make_shared<LibvirtSettings>(entry.path("uri").value_or(""));
    // A URI of the wrong type was reported already; "needs 'uri'" would only repeat it.
    if (entry.file().error_count() == errors) {
        if (auto problem = problem_with(*settings)) {
            entry.error(problem->key, entry.what() + problem->message);
        }
    }
    if (entry.file().error_count() != errors) {
        return nullptr;
    }
    return settings;
}

Result<const LibvirtSettings*> check_settings(const ProviderSpec& spec) {
    const auto* settings = spec.settings_as<LibvirtSettings>();
    if (settings == nullptr) {
        return fail(ErrorCode::internal,
                    spec.origin + ": provider '" + spec.name + "' has no libvirt settings");
    }
    if (auto problem = problem_with(*settings)) {
        return fail(ErrorCode::config,
                    spec.origin + ": libvirt provider '" + spec.name + "'" + problem->message);
    }
    return settings;
}

} // namespace snapgov::providers::libvirt
