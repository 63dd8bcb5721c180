#pragma once
/// Encrypts a libvirt save image while libvirt writes it into a FIFO, so the memory of a
/// checkpoint never exists in plaintext on disk (`snapgov checkpoint create`,
/// docs/memory-dumps.md). What libvirt 9.0 does, as measured: it opens the path twice, first
/// for the stream (a 92-byte header with the magic `LibvirtQemudPart`, then the data), then
/// to rewrite the header with the magic `LibvirtQemudSave`. A reader that sees end of file
/// and reopens can lose that header, and an open with nobody at the other end blocks libvirt
/// forever. So the FIFO is opened once, O_RDWR (on Linux it counts as a reader and a writer:
/// libvirt's opens never block and reads never see end of file between them), before the
/// libvirt call starts, and read until that call has returned, then drained.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "dumps/age_keys.hpp"
#include "dumps/age_stream.hpp"

namespace snapgov::dumps {

/// The size of a libvirt save-image header (magic, version, lengths, flags).
inline constexpr std::size_t kSaveHeaderSize = 92;

/// What capture_save_image() needs.
struct FifoCaptureOptions {
    std::string fifo_path;       ///< created (mode 0600) and removed here; must not exist
    std::string ciphertext_path; ///< written as PATH.partial, renamed when complete
    std::vector<X25519Recipient> recipients; ///< at least one
    /// After this the writer is aborted (FifoAbort) and the capture fails; reading goes on
    /// until the writer returned, so that libvirt never blocks on the FIFO.
    std::chrono::seconds timeout{std::chrono::minutes(30)};
    ProgressFn progress; ///< plaintext bytes encrypted so far (calling thread)
    unsigned threads = 0;
};

/// What capture_save_image() made.
struct FifoCaptureReport {
    std::uint64_t image_bytes = 0; ///< the save image, final header included
    std::uint64_t ciphertext_bytes = 0;
    std::string ciphertext_sha256;              ///< hex; the file was read back and verified
    std::string image_sha256;                   ///< hex, of the final image (what `age -d` returns)
    std::vector<std::string> removed_leftovers; ///< files of an interrupted earlier capture
};

/// Makes the hypervisor write one save image into the FIFO and returns once its call
/// returned (whatever the outcome). Runs on a thread of its own.
using FifoWriter = std::function<Result<void>()>;
/// Makes a running FifoWriter fail soon (libvirt: virDomainAbortJob). Called at most once,
/// from another thread, with the reason, when the timeout passed or encryption stopped.
using FifoAbort = std::function<void(const std::string& why)>;

/// Creates the FIFO, opens it, runs `writer` and encrypts what arrives, as it arrives, to
/// `ciphertext_path` (age v1; the payload is the final save image: libvirt's closing header
/// in place of the first one, which must differ from it in the magic only). Then fsync,
/// rename, directory fsync and a read-back check. Leftovers of an earlier capture that was
/// killed (an unlocked PATH.partial, a FIFO at `fifo_path`) are removed first; an existing
/// `ciphertext_path`, a locked partial (a capture in progress) or anything but a FIFO at
/// `fifo_path` is refused (ErrorCode::usage). Fails closed: on any error (the writer's, the
/// timeout, a header that does not match, a read, write or full-disk error) the partial or
/// final ciphertext and the FIFO are removed; no plaintext is ever written to a file. The
/// writer's own error comes first in the message. While the writer runs, a child process holds
/// the FIFO too; if this process dies, it removes the FIFO and closes it, so that libvirt's next
/// open or write fails instead of waiting forever for a reader.
[[nodiscard]] Result<FifoCaptureReport> capture_save_image(const FifoCaptureOptions& options,
                                                           const FifoWriter& writer,
                                                           const FifoAbort& abort);

/// Removes what a killed capture left: `ciphertext_path`.partial unless a live process holds
/// its lock (then ErrorCode::usage), and a FIFO at `fifo_path` (opened for reading first and
/// drained for a moment, which releases a libvirtd still waiting to write into it). Anything
/// but a FIFO at `fifo_path` is refused (ErrorCode::usage): it may be a plaintext dump.
/// Returns the paths removed.
[[nodiscard]] Result<std::vector<std::string>>
remove_capture_leftovers(const std::string& fifo_path, const std::string& ciphertext_path);

} // namespace snapgov::dumps
