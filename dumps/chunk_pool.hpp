#pragma once
/// A fixed set of worker threads that run one indexed job at a time (`fn(i, worker)` for
/// i in [0, n)), used to encrypt or decrypt a batch of age chunks on all cores while the
/// calling thread does the I/O of the next batch. Internal to the dumps library.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace snapgov::dumps::detail {

class ChunkPool {
public:
    /// The job signature: item index and the worker number in [0, size()).
    using Job = std::function<void(std::size_t index, unsigned worker)>;

    /// Starts `threads` workers (0 means one per online CPU). Never throws for want of
    /// threads: when the system refuses to start some, the pool keeps the ones it got, and
    /// with none at all start() runs each job on the calling thread (slower, same result).
    explicit ChunkPool(unsigned threads);
    ChunkPool(const ChunkPool&) = delete;
    ChunkPool& operator=(const ChunkPool&) = delete;
    /// Waits for a running job, then stops and joins the workers.
    ~ChunkPool();

    /// Number of worker slots (the `worker` values a job sees): at least 1.
    [[nodiscard]] unsigned size() const noexcept {
        return threads_.empty() ? 1U : static_cast<unsigned>(threads_.size());
    }

    /// Starts `job` over `count` items and returns at once (or, without worker threads,
    /// once the items are done); call wait() before the next start(). `job` must not throw:
    /// it reports failures through state it captures.
    void start(std::size_t count, Job job);
    /// Blocks until every item of the running job is done.
    void wait();

private:
    void worker_loop(unsigned worker);

    std::vector<std::thread> threads_;
    std::mutex mutex_;
    std::condition_variable work_cv_;
    std::condition_variable done_cv_;
    Job job_;
    std::size_t count_ = 0;
    std::atomic<std::size_t> next_{0};
    std::size_t finished_workers_ = 0;
    std::uint64_t generation_ = 0;
    bool running_ = false;
    bool stop_ = false;
};

} // namespace snapgov::dumps::detail
