// Fuzz target: the policy file loader (YAML text -> validated Config, or diagnostics), with
// the built-in providers' factories and the age recipient check the engine hands in.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/log.hpp"
#include "dumps/age_keys.hpp"
#include "fuzz/fuzz_input.hpp"
#include "policies/config_loader.hpp"
#include "providers/builtin.hpp"

using namespace snapgov;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const auto registry = [] {
        log::set_level(log::Level::error);
        return providers::builtin_registry().value();
    }();
    static const policies::LoadChecks checks{[](const std::string& text) -> std::string {
        auto recipient = dumps::X25519Recipient::parse(text);
        return recipient ? std::string() : recipient.error().message;
    }};
    // A relative name: `${CONFIG_DIR}` is then the working folder.
    auto loaded =
        policies::load_config_string(fuzz::as_text(data, size), "policy.yaml", registry, checks);
    if (!loaded && loaded.error().message.empty()) {
        __builtin_trap(); // a refused file must say why
    }
    return 0;
}
