#include "providers/libvirt/libvirt_settings.hpp"

#include <optional>
#include <string>
#include <string_view>

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
    if (s.max_connections < 1 || s.max_connections > LibvirtSettings::kMaxConnections) {
        return Problem{"max_connections", ": 'max_connections' must be 1 to " +
                                              std::to_string(LibvirtSettings::kMaxConnections)};
    }
    if (s.uri.rfind("test://", 0) == 0 && s.uri.rfind("test:///", 0) != 0) {
        return Problem{"uri", ": test driver URI '" + s.uri +
                                  "' must be test:///default or test:///ABSOLUTE/PATH"};
    }
    return std::nullopt;
}

} // namespace

std::optional<std::string> test_host_file(const std::string& uri) {
    static constexpr std::string_view kScheme = "test://";
    if (uri.rfind(kScheme, 0) != 0 || uri == "test:///default") {
        return std::nullopt;
    }
    // test:///PATH?query: libvirt reads PATH.
    return uri.substr(kScheme.size(), uri.find('?') == std::string::npos
                                          ? std::string::npos
                                          : uri.find('?') - kScheme.size());
}

std::shared_ptr<const LibvirtSettings> parse_settings(const ConfigSection& entry) {
    const auto errors = entry.file().error_count();
    entry.check_keys({"uri", "max_connections"});
    auto settings = std::make_shared<LibvirtSettings>(entry.path("uri").value_or(""));
    if (const auto n = entry.count("max_connections")) {
        if (*n < 1 || *n > LibvirtSettings::kMaxConnections) {
            entry.error("max_connections", entry.what() + ": 'max_connections' must be 1 to " +
                                               std::to_string(LibvirtSettings::kMaxConnections));
        } else {
            settings->max_connections = *n;
        }
    }
    // A URI of the wrong type was reported already; "needs 'uri'" would only repeat it.
    if (entry.file().error_count() == errors) {
        if (auto problem = problem_with(*settings)) {
            entry.error(problem->key, entry.what() + problem->message);
        } else if (const auto host = test_host_file(settings->uri)) {
            // The test driver reads its host description when a pass connects: a file that
            // cannot work is refused now, at the URI.
            if (auto ok = check_file(*host, kHostFile); !ok) {
                entry.error("uri", entry.what() + ": the test driver's host description " +
                                       ok.error().message);
            }
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
