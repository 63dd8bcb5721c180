#include "dumps/fifo_capture.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <optional>
#include <poll.h>
#include <pthread.h>
#include <string_view>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "core/log.hpp"
#include "dumps/age_encoding.hpp"
#include "dumps/unique_fd.hpp"

namespace snapgov::dumps {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kPartMagic = "LibvirtQemudPart";
constexpr std::string_view kSaveMagic = "LibvirtQemudSave";
/// How long one wait for data lasts before the deadline and the writer are looked at again.
constexpr int kPollMs = 50;
/// What the pump reads at once: libvirt's I/O helper writes 1 MiB at a time.
constexpr std::size_t kPumpBuffer = 1 << 20;

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0 || errno != ENOENT;
}

// The first save-image header read is the unfinished one; the one libvirt writes last must be
// the same but for the magic. Rewriting it now lets the stream be sealed in order.
Result<void> expect_final_header(std::span<std::uint8_t> head) {
    if (head.size() != kSaveHeaderSize ||
        std::string_view(reinterpret_cast<const char*>(head.data()), kPartMagic.size()) !=
            kPartMagic) {
        return fail(ErrorCode::verification,
                    "what libvirt wrote into the FIFO does not start with a save-image header "
                    "(magic LibvirtQemudPart): not a libvirt memory stream, nothing was kept");
    }
    std::memcpy(head.data(), kSaveMagic.data(), kSaveMagic.size());
    return {};
}

// Shared by the threads of one capture; every member is safe to use from any of them.
class CaptureState {
public:
    explicit CaptureState(FifoAbort abort) : abort_(std::move(abort)) {}

    /// Marks the capture failed; while the writer still runs, also makes it stop.
    void abort(const std::string& why) {
        if (aborted_.exchange(true) || writer_done.load()) {
            return;
        }
        log::warning("aborting the memory capture: " + why);
        if (abort_) {
            abort_(why);
        }
    }
    [[nodiscard]] bool aborted() const { return aborted_.load(); }
    void set_error(Error e) {
        const std::lock_guard lock(mutex_);
        if (!error_) {
            error_ = std::move(e);
        }
    }
    [[nodiscard]] std::optional<Error> error() {
        const std::lock_guard lock(mutex_);
        return error_;
    }

    std::atomic<bool> writer_done{false};

private:
    FifoAbort abort_;
    std::atomic<bool> aborted_{false};
    std::mutex mutex_;
    std::optional<Error> error_;
};

enum class Forwarded { ok, closed, timed_out };

// Writes all of `data` to the (non-blocking) pipe towards the encryptor, giving up when the
// deadline passes or the encryptor closed its end.
Forwarded forward(int pipe_fd, std::span<const std::uint8_t> data, Clock::time_point deadline) {
    while (!data.empty()) {
        const ssize_t n = ::write(pipe_fd, data.data(), data.size());
        if (n > 0) {
            data = data.subspan(static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno != EAGAIN) {
            return Forwarded::closed; // EPIPE: the encryptor stopped
        }
        if (Clock::now() >= deadline) {
            return Forwarded::timed_out;
        }
        pollfd p{pipe_fd, POLLOUT, 0};
        (void)::poll(&p, 1, kPollMs);
    }
    return Forwarded::ok;
}

// Reads the FIFO until the writer returned and nothing is left, forwarding to the encryptor
// until something goes wrong, then discarding: libvirt must never block on the FIFO.
void pump(int fifo_fd, UniqueFd& pipe_out, Clock::time_point deadline, CaptureState& state,
          const std::string& fifo_path) {
    // The encryptor may close its end: a write must then fail with EPIPE, not kill snapgov.
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGPIPE);
    (void)::pthread_sigmask(SIG_BLOCK, &block, nullptr);
    std::vector<std::uint8_t> buf(kPumpBuffer);
    auto stop_forwarding = [&] {
        if (pipe_out.valid()) {
            pipe_out = UniqueFd();
        }
    };
    for (;;) {
        // Loaded before the read: once the writer has returned, libvirt wrote everything, so
        // an empty FIFO after that means drained.
        const bool done = state.writer_done.load();
        const ssize_t n = ::read(fifo_fd, buf.data(), buf.size());
        if (n > 0) {
            if (pipe_out.valid()) {
                switch (
                    forward(pipe_out.get(), {buf.data(), static_cast<std::size_t>(n)}, deadline)) {
                case Forwarded::ok: break;
                case Forwarded::closed:
                    stop_forwarding();
                    state.abort("the encryption stopped");
                    break;
                case Forwarded::timed_out:
                    stop_forwarding();
                    state.set_error(
                        {ErrorCode::io, "the memory capture into " + fifo_path +
                                            " did not finish before the timeout (raise "
                                            "--timeout for a VM with much memory or slow disks)"});
                    state.abort("timeout");
                    break;
                }
            }
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno != EAGAIN) {
            state.set_error({ErrorCode::io, "cannot read " + fifo_path + ": " + errno_text(errno)});
            stop_forwarding();
            state.abort("reading the FIFO failed");
            return;
        }
        if (done) {
            break;
        }
        if (!state.aborted() && Clock::now() >= deadline) {
            stop_forwarding();
            state.set_error({ErrorCode::io, "the memory capture into " + fifo_path +
                                                " did not finish before the timeout (raise "
                                                "--timeout for a VM with much memory)"});
            state.abort("timeout");
        }
        pollfd p{fifo_fd, POLLIN, 0};
        (void)::poll(&p, 1, kPollMs);
    }
    stop_forwarding(); // end of input for the encryptor
}

void remove_quietly(const std::string& path) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        log::error("cannot remove " + path + ": " + errno_text(errno) + "; remove it by hand");
    }
}

/// Keeps libvirt from blocking on the FIFO if snapgov dies while the libvirt call runs.
///
/// libvirt opens the path a second time after the stream, without O_CREAT, to write the final
/// header. With snapgov's own descriptor gone (SIGKILL, a crash), that open would wait for a
/// reader forever, inside a libvirtd worker that holds the domain's job. So a small child
/// process holds the FIFO open too and waits on a pipe from snapgov. When the pipe reaches end
/// of file without a word (snapgov died), the child removes the FIFO, if it is still the one it
/// holds, and closes it: an open that comes later fails (ENOENT), a write that comes later fails
/// (EPIPE), a writer blocked on a full FIFO wakes with EPIPE, and libvirt fails the checkpoint
/// and resumes the VM. Only if libvirt's second open came first can its 92-byte header go into
/// the pipe before the close: the checkpoint then exists with no memory file (`snapgov plan`
/// reports it). Nothing reaches a file either way. release() (and the destructor) tells the
/// child to leave everything alone and reaps it.
class FifoGuard {
public:
    FifoGuard() = default;
    FifoGuard(const FifoGuard&) = delete;
    FifoGuard& operator=(const FifoGuard&) = delete;
    ~FifoGuard() { release(); }

    /// Starts the child, which keeps `fifo_fd` (open on `fifo_path`) and nothing else.
    [[nodiscard]] Result<void> start(int fifo_fd, const std::string& fifo_path) {
        int ctl[2];
        if (::pipe2(ctl, O_CLOEXEC) != 0) {
            return fail(ErrorCode::io, "cannot create a pipe: " + errno_text(errno));
        }
        const char* path = fifo_path.c_str(); // the child's copy of the memory stays valid
        const pid_t pid = ::fork();
        if (pid < 0) {
            const int err = errno;
            ::close(ctl[0]);
            ::close(ctl[1]);
            return fail(ErrorCode::io,
                        "cannot start the process that guards the FIFO: " + errno_text(err));
        }
        if (pid == 0) {
            guard_main(ctl[0], fifo_fd, path); // async-signal-safe calls only; never returns
        }
        ::close(ctl[0]);
        ctl_ = UniqueFd(ctl[1]);
        pid_ = pid;
        return {};
    }

    /// Tells the child that snapgov is in charge again (it exits without touching anything)
    /// and reaps it.
    void release() {
        if (pid_ <= 0) {
            return;
        }
        const char done = 'd';
        (void)!::write(ctl_.get(), &done, 1);
        ctl_ = UniqueFd();
        int status = 0;
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
        pid_ = -1;
    }

private:
    [[noreturn]] static void guard_main(int ctl, int fifo_fd, const char* path) {
        // Ctrl-C and the service manager's signals are for snapgov; this child then acts on
        // snapgov's end. Nothing else is kept: not the libvirt connection, not the partial file
        // (whose lock must end with snapgov), not the terminal.
        for (const int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE}) {
            struct sigaction ignore {};
            ignore.sa_handler = SIG_IGN;
            (void)::sigaction(sig, &ignore, nullptr);
        }
        (void)::prctl(PR_SET_DUMPABLE, 0); // it holds a copy of snapgov's memory
        sigset_t none;
        sigemptyset(&none);
        (void)::sigprocmask(SIG_SETMASK, &none, nullptr);
        const unsigned lo = static_cast<unsigned>(std::min(ctl, fifo_fd));
        const unsigned hi = static_cast<unsigned>(std::max(ctl, fifo_fd));
        if (lo > 0) {
            (void)::close_range(0, lo - 1, 0);
        }
        if (hi > lo + 1) {
            (void)::close_range(lo + 1, hi - 1, 0);
        }
        (void)::close_range(hi + 1, ~0U, 0);
        char word = 0;
        ssize_t n = 0;
        do {
            n = ::read(ctl, &word, 1);
        } while (n < 0 && errno == EINTR);
        if (n != 1) { // end of file: snapgov is gone
            struct stat held {};
            struct stat named {};
            if (::fstat(fifo_fd, &held) == 0 && ::lstat(path, &named) == 0 &&
                held.st_dev == named.st_dev && held.st_ino == named.st_ino) {
                (void)::unlink(path);
            }
        }
        ::_exit(0);
    }

    UniqueFd ctl_;
    pid_t pid_ = -1;
};

} // namespace

Result<std::vector<std::string>> remove_capture_leftovers(const std::string& fifo_path,
                                                          const std::string& ciphertext_path) {
    std::vector<std::string> removed;
    const std::string partial = ciphertext_path + ".partial";
    if (exists(partial)) {
        UniqueFd fd(::open(partial.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
        if (!fd.valid()) {
            return fail(ErrorCode::io, "cannot open " + partial + ": " + errno_text(errno));
        }
        if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
            return fail(ErrorCode::usage, partial + " is being written by another snapgov "
                                                    "process (a capture in progress); wait "
                                                    "for it to end");
        }
        if (::unlink(partial.c_str()) != 0) {
            return fail(ErrorCode::io,
                        "cannot remove the leftover " + partial + ": " + errno_text(errno));
        }
        removed.push_back(partial);
    }
    struct stat st {};
    if (::lstat(fifo_path.c_str(), &st) == 0) {
        if (!S_ISFIFO(st.st_mode)) {
            return fail(ErrorCode::usage,
                        fifo_path + " exists and is not a FIFO (a memory dump in plaintext?): "
                                    "refusing to touch it; check it, then wipe it with "
                                    "'snapgov dump wipe' or choose another checkpoint name");
        }
        // A libvirtd whose capture was killed between the stream and the final header waits
        // in open() for a reader: give it one, take what it writes, and let it go.
        UniqueFd fd(::open(fifo_path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
        if (::unlink(fifo_path.c_str()) != 0) {
            return fail(ErrorCode::io,
                        "cannot remove the leftover FIFO " + fifo_path + ": " + errno_text(errno));
        }
        if (fd.valid()) {
            std::vector<std::uint8_t> sink(64 * 1024);
            const auto until = Clock::now() + std::chrono::milliseconds(500);
            while (Clock::now() < until) {
                pollfd p{fd.get(), POLLIN, 0};
                (void)::poll(&p, 1, kPollMs);
                while (::read(fd.get(), sink.data(), sink.size()) > 0) {
                }
            }
        }
        removed.push_back(fifo_path);
    }
    return removed;
}

Result<FifoCaptureReport> capture_save_image(const FifoCaptureOptions& options,
                                             const FifoWriter& writer, const FifoAbort& abort) {
    const std::string& fifo_path = options.fifo_path;
    const std::string& final_path = options.ciphertext_path;
    const std::string partial = final_path + ".partial";
    if (options.recipients.empty()) {
        return fail(ErrorCode::config, "no age recipient to encrypt the memory to: set "
                                       "memory_dumps.recipients in the policy file");
    }
    if (exists(final_path)) {
        return fail(ErrorCode::usage, final_path + " already exists: choose another checkpoint "
                                                   "name or remove the old file");
    }
    FifoCaptureReport report;
    {
        auto removed = remove_capture_leftovers(fifo_path, final_path);
        if (!removed) {
            return tl::unexpected(removed.error());
        }
        report.removed_leftovers = std::move(*removed);
    }
    UniqueFd out(::open(partial.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!out.valid()) {
        return fail(ErrorCode::io, "cannot create " + partial + ": " + errno_text(errno));
    }
    // Held until the end: remove_capture_leftovers() in another process leaves it alone.
    (void)::flock(out.get(), LOCK_EX | LOCK_NB);
    bool renamed = false;
    bool fifo_made = false; // only ours is removed: whatever else is there may be a dump
    auto fail_closed = [&](const Error& e) -> tl::unexpected<Error> {
        remove_quietly(renamed ? final_path : partial);
        if (fifo_made) {
            remove_quietly(fifo_path);
        }
        return tl::unexpected(e);
    };
    if (::mkfifo(fifo_path.c_str(), 0600) != 0) {
        return fail_closed(
            {ErrorCode::io, "cannot create the FIFO " + fifo_path + ": " + errno_text(errno)});
    }
    fifo_made = true;
    // Opened before libvirt is called, read-write: libvirt's two opens never wait for a
    // reader, and the gap between them is never an end of file.
    UniqueFd fifo(::open(fifo_path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
    if (!fifo.valid()) {
        return fail_closed(
            {ErrorCode::io, "cannot open the FIFO " + fifo_path + ": " + errno_text(errno)});
    }
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
        return fail_closed({ErrorCode::io, "cannot create a pipe: " + errno_text(errno)});
    }
    UniqueFd pipe_in(pipe_fds[0]);
    UniqueFd pipe_out(pipe_fds[1]);
    (void)::fcntl(pipe_out.get(), F_SETFL, O_NONBLOCK);
    (void)::fcntl(pipe_out.get(), F_SETPIPE_SZ, static_cast<int>(kPumpBuffer));

    FifoGuard guard; // declared after the FIFO's descriptor: released before it is closed
    if (auto r = guard.start(fifo.get(), fifo_path); !r) {
        return fail_closed(r.error());
    }
    CaptureState state(abort);
    const auto deadline = Clock::now() + options.timeout;
    Result<void> written = fail(ErrorCode::internal, "the writer did not run");
    Result<AgeEncryptStats> encrypted = fail(ErrorCode::internal, "the encryption did not run");
    {
        // Both threads are joined before this block ends, before anything they borrow dies.
        std::thread writer_thread([&] {
            written = writer();
            state.writer_done.store(true);
        });
        std::thread pump_thread([&] { pump(fifo.get(), pipe_out, deadline, state, fifo_path); });
        AgeStreamOptions so;
        so.threads = options.threads;
        so.progress = options.progress;
        so.input_name = "the memory stream from " + fifo_path;
        so.output_name = partial;
        so.start_writeback = true;
        so.replace_head.size = kSaveHeaderSize;
        so.replace_head.expect = expect_final_header;
        encrypted = age_encrypt(pipe_in.get(), out.get(), options.recipients, so);
        if (!encrypted) {
            state.abort("encryption failed: " + encrypted.error().message);
        }
        pipe_in = UniqueFd(); // the pump's next write fails: it only drains from now on
        pump_thread.join();
        writer_thread.join();
    }
    guard.release(); // libvirt's call returned: it will not open the FIFO again
    if (!written) {
        Error e = written.error();
        if (!encrypted) {
            e.message += " (and the encryption: " + encrypted.error().message + ")";
        }
        return fail_closed(e);
    }
    if (auto e = state.error()) {
        return fail_closed(*e);
    }
    if (!encrypted) {
        return fail_closed(encrypted.error());
    }
    if (state.aborted()) {
        return fail_closed({ErrorCode::internal, "the capture was aborted"});
    }
    AgeEncryptStats stats = std::move(*encrypted);
    if (::fsync(out.get()) != 0) {
        return fail_closed(
            {ErrorCode::io, "fsync of " + partial + " failed: " + errno_text(errno)});
    }
    if (::renameat2(AT_FDCWD, partial.c_str(), AT_FDCWD, final_path.c_str(), RENAME_NOREPLACE) !=
        0) {
        return fail_closed({ErrorCode::io, "cannot rename " + partial + " to " + final_path + ": " +
                                               errno_text(errno)});
    }
    renamed = true;
    if (auto r = fsync_parent_dir(final_path); !r) {
        return fail_closed(r.error());
    }
    if (auto r = age_verify_file(final_path, *stats.readback, options.threads); !r) {
        return fail_closed(r.error().with_context("verification of " + final_path +
                                                  " failed (storage error?); it was removed"));
    }
    stats.readback.reset(); // wipes the payload key
    remove_quietly(fifo_path);
    report.image_bytes = stats.plaintext_bytes;
    report.ciphertext_bytes = stats.ciphertext_bytes;
    report.ciphertext_sha256 = hex_encode(stats.ciphertext_sha256);
    report.image_sha256 = hex_encode(stats.plaintext_sha256);
    return report;
}

} // namespace snapgov::dumps
