#include <catch2/catch.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <grp.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dumps/scanner.hpp"
#include "tests/support/files.hpp"
#include "tests/support/support.hpp"

using namespace snapgov::dumps;
namespace test = snapgov::testing;
using snapgov::testing::kNobody;
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

TEST_CASE("a Hyper-V name is reported by scan but is no signature for an action", "[scan]") {
    // Hyper-V's saved-state formats have no published header: a name alone must never get a
    // file wiped or encrypted (a 19-byte text file Report.VSV was wiped).
    test::TempDir dir;
    const std::string root = dir.path().string();
    const std::string vm = root + "/Virtual Machines";
    fs::create_directories(vm);
    const std::string report = root + "/Report.VSV";
    test::write_file(report, bytes("quarterly numbers\n"));
    const std::string bin = vm + "/6A0F3C3E-1B2C-4D5E-8F90-123456789ABC.bin";
    test::write_file(bin, bytes("raw memory, no header"));
    const std::string vmrs = vm + "/6A0F3C3E-1B2C-4D5E-8F90-123456789ABC.vmrs";
    test::write_file(vmrs, bytes("x"));
    auto r = scan({root}, {});
    REQUIRE(r);
    CHECK(paths_of(r->orphans) == std::vector<std::string>{report, bin, vmrs});
    for (const auto& d : r->orphans) {
        CHECK(d.kind == DumpKind::hyperv_state);
        CHECK_FALSE(identified_by_content(d.kind));
    }
    for (const auto& p : {report, bin, vmrs}) {
        auto c = classify_file(p);
        REQUIRE_FALSE(c);
        CHECK(c.error().code == snapgov::ErrorCode::unsupported);
        CHECK_THAT(c.error().message, Catch::Contains(p) && Catch::Contains("Hyper-V") &&
                                          Catch::Contains("refusing to wipe or encrypt"));
    }
    // Content still identifies a dump whatever its name.
    const std::string real = root + "/saved.vsv";
    test::write_file(real, bytes("LibvirtQemudSave...."));
    auto c = classify_file(real);
    REQUIRE(c);
    CHECK(c->kind == DumpKind::libvirt_save);
    CHECK(identified_by_content(c->kind));
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

TEST_CASE("scan fails on a missing path", "[scan]") {
    test::TempDir dir;
    auto missing = scan({dir.path().string() + "/nope"}, {});
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code == snapgov::ErrorCode::not_found);
}

namespace {

void put(int fd, const std::string& text) {
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        done += static_cast<std::size_t>(n);
    }
}

// In a forked child: as root, first becomes nobody (uid and gid 65534, no supplementary
// groups) so that permission bits apply, checks that each of `must_be_unreadable` really
// cannot be listed, then scans `root`. Everything comes back through `fd`, one record a line:
// "X why" (the child could not set up), "E message" (scan failed), else "W warning",
// "O orphan", "R referenced", "P protected".
[[noreturn]] void scan_child(int fd, const std::string& root,
                             const std::vector<std::string>& must_be_unreadable) {
    try {
        if (::geteuid() == 0) {
            if (::setgroups(0, nullptr) != 0 || ::setresgid(kNobody, kNobody, kNobody) != 0 ||
                ::setresuid(kNobody, kNobody, kNobody) != 0 || ::geteuid() == 0) {
                put(fd, std::string("X cannot drop root: ") + std::strerror(errno) + "\n");
                ::_exit(3);
            }
        }
        if (::access(root.c_str(), R_OK | X_OK) != 0) {
            put(fd, "X uid " + std::to_string(::geteuid()) + " cannot read " + root +
                        " (set TMPDIR to a folder everyone may traverse)\n");
            ::_exit(3);
        }
        for (const auto& folder : must_be_unreadable) {
            if (DIR* d = ::opendir(folder.c_str())) {
                ::closedir(d);
                put(fd, "X uid " + std::to_string(::geteuid()) + " can still list " + folder +
                            ": nothing to provoke\n");
                ::_exit(3);
            }
        }
        std::string out;
        auto r = scan({root}, {});
        if (!r) {
            out += "E " + r.error().message + "\n";
        } else {
            for (const auto& w : r->warnings)
                out += "W " + w + "\n";
            for (const auto& d : r->orphans)
                out += "O " + d.path + "\n";
            for (const auto& d : r->referenced)
                out += "R " + d.path + "\n";
            for (const auto& d : r->protected_dumps)
                out += "P " + d.path + "\n";
        }
        put(fd, out);
        ::_exit(0);
    } catch (...) {
        put(fd, "X exception in the child\n");
        ::_exit(4);
    }
}

struct ChildScan {
    int exit_code = -1;
    std::vector<std::string> lines;
    [[nodiscard]] std::vector<std::string> of(char tag) const {
        std::vector<std::string> out;
        for (const auto& l : lines)
            if (l.size() >= 2 && l[0] == tag)
                out.push_back(l.substr(2));
        return out;
    }
};

// Forks scan_child and collects its records; waits at most 30 s, then ends the child (by
// its pid) and reports it as failed.
ChildScan scan_unprivileged(const std::string& root,
                            const std::vector<std::string>& must_be_unreadable) {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::close(fds[0]);
        scan_child(fds[1], root, must_be_unreadable);
    }
    ::close(fds[1]);
    std::string text;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    bool eof = false;
    while (!eof) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            break;
        pollfd p{fds[0], POLLIN, 0};
        const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            break;
        char buf[4096];
        const ssize_t n = ::read(fds[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n > 0)
            text.append(buf, static_cast<std::size_t>(n));
        eof = n <= 0;
    }
    ::close(fds[0]);
    if (!eof)
        ::kill(pid, SIGKILL); // hung: our own child, ended by its pid
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    ChildScan out;
    out.exit_code = !eof ? -2 : (WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    std::size_t start = 0;
    for (std::size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', start)) {
        out.lines.push_back(text.substr(start, nl - start));
        start = nl + 1;
    }
    return out;
}
} // namespace

TEST_CASE("scan warns about unreadable folders, skips them and goes on with the rest", "[scan]") {
    // CI runs as root, which reads everything: the scan runs in a child that has become
    // nobody, so a folder's mode 0000 really keeps it out. Two such folders, one of them
    // below a readable one: whatever order the folders are listed in, a walk that stopped at
    // the first unreadable folder would miss a dump or the other warning.
    test::TempDir dir;
    const std::string root = dir.path().string();
    REQUIRE(::chmod(root.c_str(), 0755) == 0); // mkdtemp made it 0700
    fs::create_directories(root + "/open/deeper");
    fs::create_directories(root + "/open/locked-b");
    fs::create_directories(root + "/locked-a");
    ::chmod((root + "/open").c_str(), 0755);
    ::chmod((root + "/open/deeper").c_str(), 0755);
    const auto dump = bytes("LibvirtQemudSave....");
    test::write_file(root + "/open/orphan.mem", dump);
    test::write_file(root + "/open/deeper/second.mem", dump);
    test::write_file(root + "/locked-a/hidden.mem", dump);
    test::write_file(root + "/open/locked-b/hidden.mem", dump);
    const std::vector<std::string> locked{root + "/locked-a", root + "/open/locked-b"};
    const std::vector<std::string> readable_orphans{root + "/open/deeper/second.mem",
                                                    root + "/open/orphan.mem"};

    // Mode 0700 again whatever happens, so that TempDir can remove them.
    struct Unlock {
        std::vector<std::string> paths;
        ~Unlock() {
            for (const auto& p : paths)
                ::chmod(p.c_str(), 0700);
        }
    } unlock{locked};
    for (const auto& p : locked)
        REQUIRE(::chmod(p.c_str(), 0) == 0);

    if (::geteuid() == 0) {
        // Control: for root the same tree has no unreadable folder, and the dumps inside the
        // locked folders are found. What the child sees below is due to the permission bits.
        auto as_root = scan({root}, {});
        REQUIRE(as_root);
        CHECK(as_root->warnings.empty());
        CHECK(paths_of(as_root->orphans) ==
              std::vector<std::string>{
                  root + "/locked-a/hidden.mem", root + "/open/deeper/second.mem",
                  root + "/open/locked-b/hidden.mem", root + "/open/orphan.mem"});
    }

    const ChildScan child = scan_unprivileged(root, locked);
    INFO("child exit " << child.exit_code << ", records:\n"
                       << [&] {
                              std::string all;
                              for (const auto& l : child.lines)
                                  all += "  " + l + "\n";
                              return all;
                          }());
    REQUIRE(child.exit_code == 0);
    REQUIRE(child.of('X').empty());
    REQUIRE(child.of('E').empty()); // a folder it cannot read does not fail the scan
    // One warning per unreadable folder, naming it and the reason.
    auto warnings = child.of('W');
    std::sort(warnings.begin(), warnings.end());
    REQUIRE(warnings.size() == 2);
    for (std::size_t i = 0; i < 2; ++i) {
        CHECK(warnings[i].starts_with(locked[i] + ": cannot read ("));
        CHECK(warnings[i].find("Permission denied") != std::string::npos);
    }
    // The walk went on with the readable folders, and nothing inside a locked one is
    // reported (so nothing in it would be acted on).
    CHECK(child.of('O') == readable_orphans);
    CHECK(child.of('R').empty());
    CHECK(child.of('P').empty());
    // The locked folders were not touched.
    for (const auto& p : locked) {
        struct stat sb {};
        REQUIRE(::stat(p.c_str(), &sb) == 0);
        CHECK((sb.st_mode & 07777) == 0);
    }
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
