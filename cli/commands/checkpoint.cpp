// `snapgov checkpoint create|revert`: libvirt checkpoints whose memory is encrypted as libvirt
// writes it, and restored by decrypting it into libvirt as it reads it: the memory never
// exists in plaintext on disk (docs/memory-dumps.md).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <iostream>
#include <optional>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "cli/commands/command.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "dumps/age_keys.hpp"
#include "dumps/age_stream.hpp"
#include "dumps/fifo_capture.hpp"
#include "dumps/unique_fd.hpp"
#include "providers/libvirt/external_checkpoint.hpp"
#include "providers/libvirt/libvirt_provider.hpp"
#include "providers/libvirt/libvirt_settings.hpp"

namespace snapgov::cli {
namespace {

namespace fs = std::filesystem;
namespace lv = providers::libvirt;
using Clock = std::chrono::steady_clock;

/// Where the memory of VM's checkpoints goes without --dir: libvirt's own snapshot folder.
constexpr const char* kDefaultDirRoot = "/var/lib/libvirt/qemu/snapshot";

struct CheckpointOptions {
    CLI::App* checkpoint = nullptr;
    CLI::App* create = nullptr;
    CLI::App* revert = nullptr;
    std::string config;
    std::string vm;
    std::string name;
    std::string provider;
    std::string dir;
    std::string description;
    bool disk_only = false;
    std::string timeout = "30m";
    std::string identity;
    bool force = false;
};

int report_error(std::string_view command, const std::string& message) {
    std::cerr << "snapgov checkpoint " << command << ": " << escape_text(message) << "\n";
    return kError;
}

std::string mib(std::uint64_t bytes) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1ULL << 20));
    return buf;
}

/// A libvirt connection to the provider that has the VM, and the VM's domain.
struct Target {
    std::string provider;
    std::string uri;
    lv::ConnectHandle conn;
    lv::DomainHandle domain;
};

// The VM among the config's libvirt providers (only `--provider` when given).
Result<Target> find_vm(const policies::Config& config, const std::string& provider,
                       const std::string& vm) {
    std::string tried;
    for (const auto& spec : config.providers) {
        if (spec.type != "libvirt" || (!provider.empty() && spec.name != provider)) {
            continue;
        }
        auto settings = lv::check_settings(spec);
        if (!settings) {
            return tl::unexpected(settings.error());
        }
        const std::string uri = (*settings)->uri;
        tried += (tried.empty() ? "" : ", ") + spec.name;
        auto conn = lv::open_connection(uri);
        if (!conn) {
            return tl::unexpected(conn.error());
        }
        auto domain = lv::find_domain_by_name(conn->get(), vm);
        if (!domain) {
            if (domain.error().code == ErrorCode::not_found) {
                continue;
            }
            return tl::unexpected(domain.error());
        }
        if (uri.starts_with("test:")) {
            // libvirt's test driver keeps checkpoints in memory and writes no memory file: nothing
            // would arrive in the FIFO, and it cannot delete metadata only to undo the checkpoint.
            return fail(ErrorCode::unsupported,
                        "provider '" + spec.name + "' uses libvirt's test driver (" + uri +
                            "), which writes no memory and takes no external checkpoints: "
                            "checkpoint create and revert need libvirtd with QEMU");
        }
        if (!lv::memory_files_are_local(uri)) {
            return fail(ErrorCode::unsupported,
                        "provider '" + spec.name + "' (" + uri +
                            ") is not on this machine: the memory FIFO must be on the host "
                            "that runs libvirtd; run snapgov there");
        }
        return Target{spec.name, uri, std::move(*conn), std::move(*domain)};
    }
    if (tried.empty()) {
        return fail(ErrorCode::config,
                    provider.empty()
                        ? "the policy file has no libvirt provider"
                        : "the policy file has no libvirt provider called '" + provider + "'");
    }
    return fail(ErrorCode::not_found, "no VM called '" + vm + "' on " + tried);
}

std::string dir_for(const CheckpointOptions& o) {
    const fs::path dir = o.dir.empty() ? fs::path(kDefaultDirRoot) / o.vm : fs::path(o.dir);
    std::error_code ec;
    const fs::path abs = fs::absolute(dir, ec);
    return (ec ? dir : abs).lexically_normal().string();
}

/// Prints "N MiB encrypted" on stderr at most once a second.
class Progress {
public:
    explicit Progress(std::string label) : label_(std::move(label)) {}
    void operator()(std::uint64_t done) {
        const auto now = Clock::now();
        if (now - last_ < std::chrono::seconds(1)) {
            return;
        }
        last_ = now;
        std::fprintf(stderr, "snapgov: %s: %s so far\n", escape_text(label_).c_str(),
                     mib(done).c_str());
    }

private:
    std::string label_;
    Clock::time_point last_ = Clock::now();
};

/// The policy file and --timeout, read for `command`; nullopt once the error is printed.
struct Prepared {
    engine::LoadedConfig loaded;
    std::chrono::seconds timeout{};
};
std::optional<Prepared> prepare(const CheckpointOptions& o, const Context& context,
                                std::string_view command) {
    auto loaded = load(o.config, *context.registry);
    if (!loaded) {
        return std::nullopt;
    }
    const auto timeout = parse_duration(o.timeout);
    if (!timeout || timeout->count() <= 0) {
        (void)report_error(command, "--timeout: give a positive duration such as 30m");
        return std::nullopt;
    }
    return Prepared{std::move(*loaded), *timeout};
}

int run_create(const CheckpointOptions& o, const Context& context) {
    const auto prepared = prepare(o, context, "create");
    if (!prepared) {
        return kError;
    }
    const auto timeout = &prepared->timeout;
    const policies::Config& config = *prepared->loaded.config;
    std::vector<dumps::X25519Recipient> recipients;
    for (const auto& text : config.memory_dumps.recipients) {
        auto r = dumps::X25519Recipient::parse(text);
        if (!r) {
            return report_error("create", r.error().message);
        }
        recipients.push_back(*r);
    }
    if (recipients.empty() && !o.disk_only) {
        return report_error("create", "memory_dumps.recipients in " + o.config +
                                          " is empty: add an age1... recipient, or take a "
                                          "--disk-only checkpoint");
    }
    auto target = find_vm(config, o.provider, o.vm);
    if (!target) {
        return report_error("create", target.error().message);
    }
    virDomainPtr domain = target->domain.get();
    auto exists = lv::has_checkpoint(domain, o.name);
    if (!exists) {
        return report_error("create", exists.error().message);
    }
    if (*exists) {
        return report_error("create", "VM '" + o.vm + "' already has a checkpoint called '" +
                                          o.name + "'; choose another name");
    }
    const auto started = Clock::now();
    lv::ExternalCheckpointSpec spec{o.name, o.description, {}};
    if (o.disk_only) {
        auto made = lv::create_external_checkpoint(domain, spec);
        if (!made) {
            return report_error("create", made.error().message);
        }
        print("created disk-only checkpoint " + o.name + " of " + o.vm + "\n");
        return kOk;
    }

    const std::string dir = dir_for(o);
    std::error_code ec;
    if (fs::create_directories(dir, ec); ec) {
        return report_error("create", "cannot create " + dir + ": " + ec.message());
    }
    dumps::FifoCaptureOptions capture;
    capture.fifo_path = (fs::path(dir) / (o.name + ".mem")).string();
    capture.ciphertext_path = capture.fifo_path + ".age";
    capture.recipients = recipients;
    capture.timeout = *timeout;
    Progress progress("checkpoint " + o.name + ": memory encrypted");
    capture.progress = [&progress](std::uint64_t done) { progress(done); };
    spec.memory_file = capture.fifo_path;

    std::atomic<bool> created{false};
    auto report = dumps::capture_save_image(
        capture,
        [&]() -> Result<void> {
            auto made = lv::create_external_checkpoint(domain, spec);
            if (!made) {
                return tl::unexpected(made.error());
            }
            created.store(true);
            return {};
        },
        [&](const std::string& why) {
            if (auto r = lv::abort_domain_job(domain); !r) {
                log::warning("after " + why + ": " + r.error().message);
            }
        });
    if (!report) {
        std::string message = report.error().message + "; no plaintext was written, " +
                              capture.ciphertext_path + " was removed";
        if (created.load()) {
            // libvirt finished its part but the memory is unusable: a checkpoint that names a
            // memory file nobody can restore must not stay.
            if (auto r = lv::forget_checkpoint(domain, o.name); !r) {
                message += "; the checkpoint " + o.name +
                           " was created but its memory is lost, "
                           "and removing its metadata failed (" +
                           r.error().message + "): delete it with 'virsh snapshot-delete " + o.vm +
                           " " + o.name + " --metadata'";
            } else {
                message += "; the checkpoint's metadata was removed (its disk overlays stay in "
                           "use by the VM)";
            }
        }
        return report_error("create", message);
    }
    for (const auto& f : report->removed_leftovers) {
        log::warning("removed " + f + ", left by an interrupted earlier run");
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    char took[32];
    std::snprintf(took, sizeof took, "%.1f s", seconds);
    print("created checkpoint " + escape_text(o.name) + " of " + escape_text(o.vm) + ": memory " +
          std::to_string(report->image_bytes) + " bytes (" + mib(report->image_bytes) +
          ") encrypted to " + escape_text(capture.ciphertext_path) + ", " +
          std::to_string(report->ciphertext_bytes) + " bytes, sha256 " + report->ciphertext_sha256 +
          ", in " + took + "\n");
    return kOk;
}

int run_revert(const CheckpointOptions& o, const Context& context);

class CheckpointCommand final : public Command {
public:
    explicit CheckpointCommand(CLI::App& app) {
        o_.checkpoint = app.add_subcommand(
            "checkpoint", "libvirt checkpoints whose memory never touches disk in plaintext");
        o_.checkpoint->require_subcommand(1);
        o_.create = o_.checkpoint->add_subcommand(
            "create", "take an external checkpoint of a running libvirt VM; its memory is "
                      "encrypted to memory_dumps.recipients as libvirt writes it, into "
                      "DIR/NAME.mem.age");
        add_common(*o_.create);
        o_.create->footer("Exit codes: 0 created; 2 error: then no plaintext, no partial .age and "
                          "no half-made checkpoint remain, and the VM runs on. Progress on "
                          "stderr; see docs/memory-dumps.md.");
        o_.create->add_option("--description", o_.description, "the checkpoint's description");
        o_.create->add_flag("--disk-only", o_.disk_only, "no memory: disk overlays only");
        o_.create->add_option("--dir", o_.dir,
                              "where NAME.mem.age goes (default " + std::string(kDefaultDirRoot) +
                                  "/VM)");
        o_.revert = o_.checkpoint->add_subcommand(
            "revert", "restore a checkpoint made by 'checkpoint create': disks on a fresh "
                      "overlay, memory decrypted straight into libvirt");
        add_common(*o_.revert);
        o_.revert->footer("Exit codes: 0 the VM runs from the checkpoint; 2 error. libvirt's "
                          "current checkpoint is not changed.");
        o_.revert->add_option("-i,--identity", o_.identity, "age identity file")->required();
        o_.revert->add_flag("--force", o_.force,
                            "stop the VM first if it runs (its current state is lost)");
    }

    [[nodiscard]] bool selected() const override { return o_.checkpoint->parsed(); }

    [[nodiscard]] int run(const Context& context) override {
        if (o_.create->parsed()) {
            return run_create(o_, context);
        }
        return run_revert(o_, context);
    }

private:
    void add_common(CLI::App& cmd) {
        add_config_option(cmd, o_.config);
        cmd.add_option("VM", o_.vm, "the VM (libvirt domain name)")->required();
        cmd.add_option("NAME", o_.name, "the checkpoint's name")->required();
        cmd.add_option("--provider", o_.provider,
                       "the libvirt provider of the policy file that has the VM (default: "
                       "the first that has it)");
        cmd.add_option("--timeout", o_.timeout,
                       "give up after this long: create aborts libvirt's job "
                       "(virDomainAbortJob), revert stops feeding the memory")
            ->capture_default_str();
    }

    CheckpointOptions o_;
};

// Runs `argv` (no shell) and waits; its output goes to snapgov's stderr.
Result<void> run_program(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const auto& a : argv) {
        args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    pid_t pid = 0;
    if (const int err = ::posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ);
        err != 0) {
        return fail(ErrorCode::io, "cannot run " + argv[0] + ": " + std::strerror(err) +
                                       " (Debian package qemu-utils)");
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::string line;
        for (const auto& a : argv) {
            line += (line.empty() ? "" : " ") + a;
        }
        return fail(ErrorCode::io, "'" + line + "' failed");
    }
    return {};
}

// The domain XML a save image embeds: the 92-byte header (magic, version, data_len, ...), then
// data_len bytes that start with the NUL-terminated XML. Decrypts only the first chunks.
Result<std::string> image_domain_xml(int fd, std::span<const dumps::X25519Identity> ids,
                                     const std::string& path) {
    std::vector<std::uint8_t> head;
    std::size_t want = dumps::kSaveHeaderSize;
    bool enough = false;
    auto r = dumps::age_decrypt(
        fd,
        [&](std::span<const std::uint8_t> data) -> Result<void> {
            head.insert(head.end(), data.begin(), data.end());
            if (want == dumps::kSaveHeaderSize && head.size() >= want) {
                std::uint32_t data_len = 0;
                std::memcpy(&data_len, head.data() + 20, sizeof data_len); // little-endian
                want += data_len;
            }
            if (head.size() >= want && want > dumps::kSaveHeaderSize) {
                enough = true;
                return fail(ErrorCode::internal, "stop"); // the rest is not needed here
            }
            return {};
        },
        ids);
    if (!r && !enough) {
        return tl::unexpected(r.error().with_context("cannot decrypt " + path));
    }
    if (head.size() < want || std::memcmp(head.data(), "LibvirtQemudSave", 16) != 0) {
        return fail(ErrorCode::verification,
                    path + " does not hold a complete libvirt save image (magic "
                           "LibvirtQemudSave); it cannot be restored");
    }
    const char* xml = reinterpret_cast<const char*>(head.data() + dumps::kSaveHeaderSize);
    return std::string(xml, strnlen(xml, want - dumps::kSaveHeaderSize));
}

int run_revert(const CheckpointOptions& o, const Context& context) {
    const auto prepared = prepare(o, context, "revert");
    if (!prepared) {
        return kError;
    }
    const auto timeout = &prepared->timeout;
    auto ids = dumps::load_identity_file(o.identity);
    if (!ids) {
        return report_error("revert", ids.error().message);
    }
    auto target = find_vm(*prepared->loaded.config, o.provider, o.vm);
    if (!target) {
        return report_error("revert", target.error().message);
    }
    virDomainPtr domain = target->domain.get();
    auto files = lv::checkpoint_files(domain, o.name);
    if (!files) {
        return report_error("revert", files.error().message);
    }
    if (files->memory_file.empty()) {
        return report_error("revert", "checkpoint " + o.name +
                                          " has no external memory: "
                                          "'checkpoint revert' restores checkpoints made by "
                                          "'snapgov checkpoint create'");
    }
    const std::string ciphertext = files->memory_file + ".age";
    dumps::UniqueFd in(::open(ciphertext.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!in.valid()) {
        return report_error("revert", "cannot open " + ciphertext + ": " + std::strerror(errno) +
                                          " (checkpoint " + o.name + "'s encrypted memory)");
    }
    auto active = lv::domain_active(domain);
    if (!active) {
        return report_error("revert", active.error().message);
    }
    if (*active && !o.force) {
        return report_error("revert", "VM '" + o.vm +
                                          "' is running: a revert stops it and "
                                          "its current state is lost; pass --force to do so");
    }
    auto xml = image_domain_xml(in.get(), *ids, ciphertext);
    if (!xml) {
        return report_error("revert", xml.error().message);
    }
    // A fresh overlay on each disk as it was at checkpoint time (the save image's XML names
    // it): the checkpoint's own disk files are never written to.
    auto disks = lv::domain_disk_files(*xml);
    if (!disks) {
        return report_error("revert", disks.error().message);
    }
    std::vector<lv::DiskFile> overlays;
    const auto stamp = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
    for (const auto& d : *disks) {
        for (const auto& taken : files->disk_overlays) {
            if (taken.target != d.target) {
                continue;
            }
            const std::string fresh =
                (fs::path(taken.file).parent_path() /
                 (o.vm + "." + o.name + ".revert-" + stamp + "." + d.target + ".qcow2"))
                    .string();
            if (auto r = run_program({"qemu-img", "create", "-q", "-f", "qcow2", "-b", d.file, "-F",
                                      d.format.empty() ? "qcow2" : d.format, fresh});
                !r) {
                return report_error("revert", r.error().message);
            }
            overlays.push_back({d.target, fresh, "qcow2"});
        }
    }
    auto restore_xml = lv::retarget_disks(*xml, overlays);
    if (!restore_xml) {
        return report_error("revert", restore_xml.error().message);
    }
    if (*active) {
        if (auto r = lv::destroy_domain(domain); !r) {
            return report_error("revert", r.error().message);
        }
    }
    if (::lseek(in.get(), 0, SEEK_SET) != 0) {
        return report_error("revert", "cannot rewind " + ciphertext);
    }
    const std::string fifo_path = files->memory_file + ".restore-fifo";
    (void)::unlink(fifo_path.c_str()); // a leftover of a killed revert: a FIFO holds nothing
    if (::mkfifo(fifo_path.c_str(), 0600) != 0) {
        return report_error("revert",
                            "cannot create the FIFO " + fifo_path + ": " + std::strerror(errno));
    }
    // Read-write, like the capture: this open never waits, and libvirt's never does either.
    dumps::UniqueFd fifo(::open(fifo_path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
    if (!fifo.valid()) {
        (void)::unlink(fifo_path.c_str());
        return report_error("revert", "cannot open the FIFO " + fifo_path);
    }
    const auto started = Clock::now();
    const auto deadline = started + *timeout;
    std::atomic<bool> restore_done{false};
    Result<void> restored = fail(ErrorCode::internal, "the restore did not run");
    Result<std::uint64_t> fed = fail(ErrorCode::internal, "the decryption did not run");
    {
        std::thread restore_thread([&] {
            restored = lv::restore_domain(target->conn.get(), fifo_path, *restore_xml);
            restore_done.store(true);
        });
        dumps::AgeStreamOptions so;
        so.input_name = ciphertext;
        so.output_name = fifo_path;
        Progress progress("revert " + o.name + ": memory fed to libvirt");
        so.progress = [&progress](std::uint64_t done) { progress(done); };
        fed = dumps::age_decrypt(
            in.get(),
            [&](std::span<const std::uint8_t> data) -> Result<void> {
                while (!data.empty()) {
                    const ssize_t n = ::write(fifo.get(), data.data(), data.size());
                    if (n > 0) {
                        data = data.subspan(static_cast<std::size_t>(n));
                        continue;
                    }
                    if (n < 0 && errno != EAGAIN && errno != EINTR) {
                        return fail(ErrorCode::io,
                                    "writing " + fifo_path + " failed: " + std::strerror(errno));
                    }
                    if (restore_done.load()) {
                        return fail(ErrorCode::provider, "libvirt stopped reading the image");
                    }
                    if (Clock::now() >= deadline) {
                        return fail(ErrorCode::io, "the restore did not finish before the "
                                                   "timeout (raise --timeout)");
                    }
                    pollfd p{fifo.get(), POLLOUT, 0};
                    (void)::poll(&p, 1, 50);
                }
                return {};
            },
            *ids, so);
        // Unlinked before closed: a libvirt that has not opened it yet fails instead of
        // waiting for a writer. What is still in the FIFO stays readable by libvirt.
        (void)::unlink(fifo_path.c_str());
        fifo = dumps::UniqueFd();
        restore_thread.join();
    }
    if (restored && !fed) {
        // libvirt took what it was given, but the file did not authenticate to its end
        // (truncated or altered): a VM running from it is not the checkpoint. Stop it.
        const auto stopped = lv::destroy_domain(domain);
        restored = fail(ErrorCode::crypto,
                        fed.error().message + "; the VM had started from it and was stopped " +
                            (stopped ? "again" : "(failed: " + stopped.error().message + ")"));
    }
    if (!restored || !fed) {
        std::string message = !restored ? restored.error().message : fed.error().message;
        if (!restored && !fed) {
            message += " (feeding the image: " + fed.error().message + ")";
        }
        for (const auto& d : overlays) {
            (void)::unlink(d.file.c_str()); // never used: the VM did not start on it
        }
        return report_error("revert", message +
                                          "; the VM is not running (start it with "
                                          "'virsh start " +
                                          o.vm +
                                          "'; its disks are "
                                          "as before the revert)");
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    char took[32];
    std::snprintf(took, sizeof took, "%.1f s", seconds);
    std::string text = "reverted " + escape_text(o.vm) + " to checkpoint " + escape_text(o.name) +
                       ": " + std::to_string(*fed) + " bytes of memory decrypted from " +
                       escape_text(ciphertext) + " straight into libvirt in " + took + "\n";
    for (const auto& d : overlays) {
        text += "  disk " + escape_text(d.target) + " now runs on the new overlay " +
                escape_text(d.file) + "\n";
    }
    text += "  libvirt's current checkpoint was not changed\n";
    print(text);
    return kOk;
}

} // namespace

std::unique_ptr<Command> make_checkpoint_command(CLI::App& app) {
    return std::make_unique<CheckpointCommand>(app);
}

} // namespace snapgov::cli
