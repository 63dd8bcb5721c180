#include "dumps/chunk_pool.hpp"

#include <system_error>

namespace snapgov::dumps::detail {

ChunkPool::ChunkPool(unsigned threads) {
    if (threads == 0)
        threads = std::max(1u, std::thread::hardware_concurrency());
    threads_.reserve(threads);
    for (unsigned i = 0; i < threads; ++i) {
        try {
            threads_.emplace_back([this, i] { worker_loop(i); });
        } catch (const std::system_error&) {
            break; // out of threads (EAGAIN): work with the ones already running
        }
    }
}

ChunkPool::~ChunkPool() {
    wait();
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : threads_)
        t.join();
}

void ChunkPool::start(std::size_t count, Job job) {
    if (threads_.empty()) {
        for (std::size_t i = 0; i < count; ++i)
            job(i, 0);
        return;
    }
    {
        std::lock_guard lock(mutex_);
        job_ = std::move(job);
        count_ = count;
        next_.store(0);
        finished_workers_ = 0;
        running_ = true;
        ++generation_;
    }
    work_cv_.notify_all();
}

void ChunkPool::wait() {
    std::unique_lock lock(mutex_);
    done_cv_.wait(lock, [this] { return !running_; });
}

void ChunkPool::worker_loop(unsigned worker) {
    std::uint64_t seen = 0;
    for (;;) {
        {
            std::unique_lock lock(mutex_);
            work_cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
            if (stop_)
                return;
            seen = generation_;
        }
        for (std::size_t i = next_.fetch_add(1); i < count_; i = next_.fetch_add(1))
            job_(i, worker);
        std::lock_guard lock(mutex_);
        if (++finished_workers_ == threads_.size()) {
            running_ = false;
            done_cv_.notify_all();
        }
    }
}

} // namespace snapgov::dumps::detail
