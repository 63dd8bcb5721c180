// The provider registry and the contract between the policy loader and a provider's parser,
// with small fake providers: no hypervisor, no build option needed.
#include <catch2/catch.hpp>

#include "core/config_section.hpp"
#include "policies/config_loader.hpp"
#include "providers/registry.hpp"

using namespace snapgov;
using namespace snapgov::providers;

namespace {

struct FakeSettings final : ProviderSettings {
    [[nodiscard]] std::string endpoint() const override { return address; }
    std::string address;
};

/// A provider type whose only key is a required `address`.
class FakeFactory final : public ProviderFactory {
public:
    explicit FakeFactory(std::string type) : type_(std::move(type)) {}

    [[nodiscard]] std::string_view type() const override { return type_; }

    [[nodiscard]] std::shared_ptr<const ProviderSettings>
    parse(const ConfigSection& entry) const override {
        entry.check_keys({"address"});
        auto address = entry.required_string("address", "fake://here");
        if (!address) {
            return nullptr;
        }
        auto settings = std::make_shared<FakeSettings>();
        settings->address = *address;
        return settings;
    }

    [[nodiscard]] Result<void> validate(const ProviderSpec& spec) const override {
        if (spec.settings_as<FakeSettings>() == nullptr) {
            return fail(ErrorCode::internal, spec.origin + ": no fake settings");
        }
        return {};
    }

    [[nodiscard]] Result<std::unique_ptr<Provider>> create(const ProviderSpec&,
                                                           const ProviderUse&) const override {
        return fail(ErrorCode::unsupported, "fake providers do not connect");
    }

private:
    std::string type_;
};

ProviderRegistry fake_registry() {
    ProviderRegistry registry;
    REQUIRE(registry.add(std::make_unique<FakeFactory>("alpha")));
    REQUIRE(registry.add(std::make_unique<FakeFactory>("beta")));
    return registry;
}

} // namespace

TEST_CASE("the registry refuses a second factory of the same type", "[providers][registry]") {
    ProviderRegistry registry = fake_registry();
    auto again = registry.add(std::make_unique<FakeFactory>("alpha"));
    REQUIRE_FALSE(again);
    CHECK(again.error().code == ErrorCode::internal);
    CHECK_THAT(again.error().message, Catch::Contains("provider type 'alpha' registered twice"));
    CHECK(registry.types() == std::vector<std::string>{"alpha", "beta"});
}

TEST_CASE("an unknown provider type is an error at its type, listing the built-in types",
          "[providers][registry][config]") {
    auto r = policies::load_config_string("providers:\n"
                                          "  - name: x\n"
                                          "    type: vmware\n"
                                          "    address: somewhere\n",
                                          "p.yaml", fake_registry());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::config);
    CHECK_THAT(r.error().message,
               Catch::StartsWith("p.yaml:3:11: error: provider 'x' has type 'vmware', which this "
                                 "build does not include (built in: alpha, beta)\n"
                                 "        type: vmware\n"
                                 "              ^"));
}

TEST_CASE("a provider's parser reads its own keys; the loader reads the common ones",
          "[providers][registry][config]") {
    auto r = policies::load_config_string("providers:\n"
                                          "  - name: x\n"
                                          "    type: beta\n"
                                          "    address: fake://one\n"
                                          "    read_timeout: 5m\n"
                                          "    colour: blue\n"
                                          "policies: []\n",
                                          "p.yaml", fake_registry());
    REQUIRE(r);
    const auto& spec = r->config.providers.at(0);
    CHECK(spec.name == "x");
    CHECK(spec.type == "beta");
    CHECK(spec.origin == "p.yaml:2:5");
    CHECK(spec.read_timeout == Seconds{300});
    CHECK(spec.endpoint() == "fake://one");
    REQUIRE(r->warnings.size() == 1);
    CHECK(r->warnings[0].format() ==
          "p.yaml:6:5: warning: unknown key 'colour' in beta provider 'x' is ignored (known: "
          "name, type, connect_timeout, read_timeout, address)");
    CHECK(fake_registry().validate(spec));

    auto missing = policies::load_config_string("providers: [{name: x, type: alpha}]\n", "p.yaml",
                                                fake_registry());
    REQUIRE_FALSE(missing);
    CHECK_THAT(missing.error().message,
               Catch::StartsWith("p.yaml:1:13: error: alpha provider 'x' is missing 'address' "
                                 "(e.g. address: fake://here)"));
}

TEST_CASE("validate names the origin of a spec of an unknown type", "[providers][registry]") {
    ProviderSpec spec;
    spec.name = "x";
    spec.type = "gamma";
    spec.origin = "p.yaml:2:5";
    auto r = fake_registry().validate(spec);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message,
               Catch::StartsWith("p.yaml:2:5: provider 'x' has type 'gamma', which this build "
                                 "does not include (built in: alpha, beta)"));
}
