#pragma once
/// Helpers shared by snapgov's Catch2 tests: temporary folders, running a command as a user
/// would, and fake memory dumps.

#include <filesystem>
#include <string>

#include <sys/types.h>

namespace snapgov::testing {

/// The unprivileged `nobody` user and group on Debian: owner of "someone else's" files.
inline constexpr uid_t kNobody = 65534;

/// Whether `path` names anything (lstat: a dangling link counts).
bool exists(const std::string& path);

/// A fresh folder under the system's temporary directory, removed with everything in it
/// when the object goes away.
class TempDir {
public:
    explicit TempDir(const std::string& prefix = "snapgov-test");
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    [[nodiscard]] const std::filesystem::path& path() const { return path_; }
    /// The path of `name` inside the folder, as a string.
    [[nodiscard]] std::string str(const std::string& name) const { return (path_ / name).string(); }
    /// The same as str().
    [[nodiscard]] std::string file(const std::string& name) const { return str(name); }
    /// Writes `text` to `name` inside the folder and returns its path.
    std::filesystem::path write(const std::string& name, const std::string& text) const;

private:
    std::filesystem::path path_;
};

/// The whole content of a file (empty if it cannot be read).
[[nodiscard]] std::string slurp(const std::filesystem::path& path);

/// What a command did: its exit code (-1 if it did not exit normally), stdout and stderr.
struct Run {
    int exit_code = -1;
    std::string out;
    std::string err;
};

/// Runs `command` with /bin/sh, capturing stdout and stderr.
[[nodiscard]] Run run_command(const std::string& command);

#ifdef SNAPGOV_BINARY
/// Runs the snapgov binary under test (the targets that define SNAPGOV_BINARY) with `args`.
[[nodiscard]] inline Run run_snapgov(const std::string& args) {
    return run_command(std::string(SNAPGOV_BINARY) + " " + args);
}
#endif

/// Writes a fake memory dump of `size` bytes: libvirt's save-image magic (or, with
/// `magic = false`, plain text) followed by random bytes, dated two hours back (written when
/// its checkpoint was taken, not a moment ago). Returns the bytes written.
std::string write_dump(const std::string& path, std::size_t size, bool magic = true);

} // namespace snapgov::testing
