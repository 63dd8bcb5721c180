#include <catch2/catch.hpp>

#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

#include "dumps/scanner.hpp"
#include "test_util.hpp"

using namespace snapgov::dumps;
namespace fs = std::filesystem;

namespace {
std::vector<std::uint8_t> bytes(const std::string& s) {
    return {s.begin(), s.end()};
}

std::vector<std::string> paths_of(const std::vector<FoundDump>& v) {
    std::vector<std::string> out;
    for (const auto& d : v)
        out.push_back(d.path);
    return out;
}
} // namespace

TEST_CASE("scan finds libvirt dumps by magic and reports only unreferenced ones", "[scan]") {
    test::TempDir dir;
    const std::string root = dir.path().string();
    fs::create_directories(root + "/a/b");
    test::write_file(root + "/a/snap1.mem", bytes("LibvirtQemudSave\x01\x00\x00\x00rest"));
    test::write_file(root + "/a/b/odd-name", bytes("LibvirtQemudSave...."));
    test::write_file(root + "/a/b/partial.save", bytes("LibvirtQemudPart...."));
    test::write_file(root + "/a/disk.qcow2", bytes("QFI\xfb not a dump"));
    test::write_file(root + "/a/short", bytes("Libvirt"));

    auto r = scan({root}, {root + "/a/snap1.mem"});
    REQUIRE(r);
    CHECK(paths_of(r->orphans) ==
          std::vector<std::string>{root + "/a/b/odd-name", root + "/a/b/partial.save"});
    CHECK(r->orphans[0].kind == DumpKind::libvirt_save);
    CHECK(r->orphans[1].kind == DumpKind::libvirt_partial);
    CHECK(paths_of(r->referenced) == std::vector<std::string>{root + "/a/snap1.mem"});
    CHECK(r->protected_dumps.empty());
}

TEST_CASE("scan applies the Hyper-V name rules", "[scan]") {
    test::TempDir dir;
    const std::string root = dir.path().string();
    const std::string vm = root + "/Hyper-V/Virtual Machines/6A0F3C3E-1B2C-4D5E-8F90-123456789ABC";
    fs::create_directories(vm);
    test::write_file(vm + "/6A0F3C3E-1B2C-4D5E-8F90-123456789ABC.vmrs", bytes("x"));
    test::write_file(vm + "/6A0F3C3E-1B2C-4D5E-8F90-123456789ABC.bin", bytes("x"));
    test::write_file(vm + "/6A0F3C3E-1B2C-4D5E-8F90-123456789ABC.VSV", bytes("x"));
    test::write_file(root + "/firmware.bin", bytes("x")); // .bin outside Hyper-V: no
    test::write_file(vm + "/notaguid.bin", bytes("x"));   // .bin, stem not a GUID: no
    auto r = scan({root}, {});
    REQUIRE(r);
    REQUIRE(r->orphans.size() == 3);
    for (const auto& d : r->orphans)
        CHECK(d.kind == DumpKind::hyperv_state);
}

TEST_CASE("scan reports age files as protected and never follows symlinks", "[scan]") {
    test::TempDir dir;
    const std::string root = dir.path().string();
    fs::create_directories(root + "/dumps");
    fs::create_directories(root + "/elsewhere");
    test::write_file(root + "/dumps/s.mem.age", bytes("age-encryption.org/v1\n-> X25519 ..."));
    test::write_file(root + "/dumps/fake.age", bytes("not age at all, just named so"));
    test::write_file(root + "/dumps/s2.mem.age.partial", bytes("age-encryption.org/v1\n"));
    test::write_file(root + "/elsewhere/hidden.mem", bytes("LibvirtQemudSave...."));
    REQUIRE(::symlink((root + "/elsewhere").c_str(), (root + "/dumps/dirlink").c_str()) == 0);
    REQUIRE(::symlink((root + "/elsewhere/hidden.mem").c_str(),
                      (root + "/dumps/filelink.mem").c_str()) == 0);
    auto r = scan({root + "/dumps"}, {});
    REQUIRE(r);
    CHECK(r->orphans.empty());
    CHECK(paths_of(r->protected_dumps) == std::vector<std::string>{root + "/dumps/s.mem.age"});
    REQUIRE(r->warnings.size() == 1);
    CHECK(r->warnings[0].find("s2.mem.age.partial") != std::string::npos);
}

TEST_CASE("scan fails on a missing path and warns about unreadable folders", "[scan]") {
    test::TempDir dir;
    const std::string root = dir.path().string();
    auto missing = scan({root + "/nope"}, {});
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code == snapgov::ErrorCode::not_found);
    if (::geteuid() == 0)
        return; // root reads everything: nothing to provoke
    fs::create_directories(root + "/locked");
    ::chmod((root + "/locked").c_str(), 0);
    auto r = scan({root}, {});
    ::chmod((root + "/locked").c_str(), 0700);
    REQUIRE(r);
    CHECK(r->warnings.size() == 1);
}

TEST_CASE("scan reports a file it cannot read instead of passing over it", "[scan][errors]") {
    if (::geteuid() == 0)
        return; // root reads everything: nothing to provoke
    test::TempDir dir;
    const std::string root = dir.path().string();
    test::write_file(root + "/locked.mem", bytes("LibvirtQemudSave\x01\x00\x00\x00rest"));
    ::chmod((root + "/locked.mem").c_str(), 0);
    test::write_file(root + "/vm.vmrs", bytes("x"));
    ::chmod((root + "/vm.vmrs").c_str(), 0);
    auto r = scan({root}, {});
    REQUIRE(r);
    // Its name identifies the .vmrs; only its content could identify the other one.
    CHECK(paths_of(r->orphans) == std::vector<std::string>{root + "/vm.vmrs"});
    REQUIRE(r->warnings.size() == 1);
    CHECK_THAT(r->warnings[0], Catch::StartsWith(root + "/locked.mem: cannot read it"));
}

TEST_CASE("scan names a path through a regular file as missing", "[scan][errors]") {
    test::TempDir dir;
    test::write_file(dir.file("file"), bytes("x"));
    // ENOTDIR, like ENOENT, means there is nothing there.
    auto below = scan({dir.file("file") + "/below"}, {});
    REQUIRE_FALSE(below);
    CHECK(below.error().code == snapgov::ErrorCode::not_found);
    CHECK_THAT(below.error().message, Catch::Contains(dir.file("file") + "/below"));
}
