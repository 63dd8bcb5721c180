// Pure mappings from Hyper-V WMI values to the inventory model: no server needed.
#include <catch2/catch.hpp>

#include "providers/hyperv/hyperv_mapping.hpp"
#include "providers/hyperv/wmi_object.hpp"
#include "providers/hyperv/wsman_transport.hpp"

using namespace snapgov;
using namespace snapgov::providers::hyperv;

TEST_CASE("labels come from snapgov:key=value lines of the Notes", "[mapping]") {
    std::vector<std::string> ignored;
    const auto labels =
        labels_from_notes({"snapgov:tier=production\r\nFree text\nsnapgov:owner = dba team ",
                           "  snapgov:zone=eu-west", "snapgov:no-equals", "snapgov:=empty-key",
                           "SNAPGOV:case=matters", "snapgov:tier=prod2"},
                          &ignored);
    CHECK(labels == std::map<std::string, std::string>{
                        {"tier", "prod2"}, {"owner", "dba team"}, {"zone", "eu-west"}});
    CHECK(ignored == std::vector<std::string>{"snapgov:no-equals", "snapgov:=empty-key"});
}

TEST_CASE("UserSnapshotType maps to the checkpoint setting", "[mapping]") {
    CHECK(checkpoint_setting(2) == CheckpointSetting::disabled);
    CHECK(checkpoint_setting(3) == CheckpointSetting::production);
    CHECK(checkpoint_setting(4) == CheckpointSetting::production_only);
    CHECK(checkpoint_setting(5) == CheckpointSetting::standard);
    CHECK(checkpoint_setting(1) == CheckpointSetting::unknown);
    CHECK(checkpoint_setting(std::nullopt) == CheckpointSetting::unknown);
}

TEST_CASE("EnabledState maps to the power state (v2 and legacy values)", "[mapping]") {
    CHECK(power_state(2) == PowerState::running);
    CHECK(power_state(3) == PowerState::shutoff);
    CHECK(power_state(9) == PowerState::paused);
    CHECK(power_state(32768) == PowerState::paused);
    CHECK(power_state(6) == PowerState::suspended);
    CHECK(power_state(32769) == PowerState::suspended);
    CHECK(power_state(10) == PowerState::other);
}

TEST_CASE("the InstanceID is read from a WMI object path", "[mapping]") {
    CHECK(
        instance_id_from_path(
            R"(\\HV01\root\virtualization\v2:Msvm_VirtualSystemSettingData.InstanceID="Microsoft:ABC")") ==
        "Microsoft:ABC");
    CHECK(instance_id_from_path(R"(x.InstanceID="a\"b\\c")") == "a\"b\\c");
    CHECK_FALSE(instance_id_from_path("x.Name=\"a\"").has_value());
    CHECK_FALSE(instance_id_from_path("x.InstanceID=\"unterminated").has_value());
}

TEST_CASE("CIM datetimes with offsets become UTC", "[mapping]") {
    CHECK(format_rfc3339(*parse_cim_datetime("2024-03-10T08:15:30.500000+01:00")) ==
          "2024-03-10T07:15:30Z");
    CHECK(format_rfc3339(*parse_cim_datetime("2024-02-29T23:59:59.999999+05:30")) ==
          "2024-02-29T18:29:59Z");
    CHECK(format_rfc3339(*parse_cim_datetime("20240311090000.000000-300")) ==
          "2024-03-11T14:00:00Z");
    CHECK_FALSE(parse_cim_datetime("yesterday").has_value());
}

TEST_CASE("a saved checkpoint has its memory file under the snapshot data root", "[mapping]") {
    WmiObject s;
    s.class_name = "Msvm_VirtualSystemSettingData";
    s.properties["InstanceID"].values = {"Microsoft:GUID-1"};
    s.properties["ConfigurationDataRoot"].values = {"D:\\VMs\\a"};
    CHECK(memory_files_for(s) == std::vector<std::string>{"D:\\VMs\\a\\Snapshots\\GUID-1.vmrs"});
    s.properties["SnapshotDataRoot"].values = {"E:\\Snap\\"};
    s.properties["ConfigurationID"].values = {"GUID-2"};
    CHECK(memory_files_for(s) == std::vector<std::string>{"E:\\Snap\\Snapshots\\GUID-2.vmrs"});
}

TEST_CASE("embedded instances serialize as escaped CIM-XML", "[mapping]") {
    const EmbeddedInstance i{"Msvm_VirtualSystemSettingData",
                             {{"InstanceID", "string", {"Microsoft:<&\">"}, false},
                              {"Notes", "string", {"a", "b"}, true},
                              {"ElementName", "string", {}, false}}};
    CHECK(to_cim_xml(i) == "<INSTANCE CLASSNAME=\"Msvm_VirtualSystemSettingData\">"
                           "<PROPERTY NAME=\"InstanceID\" "
                           "TYPE=\"string\"><VALUE>Microsoft:&lt;&amp;\"&gt;</VALUE></PROPERTY>"
                           "<PROPERTY.ARRAY NAME=\"Notes\" "
                           "TYPE=\"string\"><VALUE.ARRAY><VALUE>a</VALUE><VALUE>b</VALUE></"
                           "VALUE.ARRAY></PROPERTY.ARRAY>"
                           "<PROPERTY NAME=\"ElementName\" TYPE=\"string\"/></INSTANCE>");
    CHECK(wql_quote("it's a \\ test") == "'it\\'s a \\\\ test'");
}

TEST_CASE("endpoint URLs are parsed and credentials in them refused", "[mapping]") {
    auto u = parse_endpoint_url("https://hv01.example.org/wsman");
    REQUIRE(u);
    CHECK(u->tls);
    CHECK(u->host == "hv01.example.org");
    CHECK(u->port == "5986");
    CHECK(u->target == "/wsman");
    u = parse_endpoint_url("http://[::1]:8080");
    REQUIRE(u);
    CHECK_FALSE(u->tls);
    CHECK(u->host == "::1");
    CHECK(u->port == "8080");
    CHECK(u->target == "/wsman");
    CHECK_FALSE(parse_endpoint_url("https://user:pw@hv01/wsman"));
    CHECK_FALSE(parse_endpoint_url("ftp://hv01"));
    CHECK_FALSE(parse_endpoint_url("https://hv01:59x6/wsman"));
}
