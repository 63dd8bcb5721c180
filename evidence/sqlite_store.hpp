#pragma once
/// The ledger in one SQLite file (WAL, synchronous=FULL). The file is created with mode 0600
/// in a folder created 0700 when missing; an existing file must be a regular file owned by
/// root or this user with no access for group or others, like every secret snapgov keeps
/// (core/checked_file.hpp): the ledger names every VM and what was done to it.
///
/// Checkpoints (copying the WAL into the database file) run on a thread of their own, on a
/// second connection, once a commit leaves the WAL at 1,000 pages or more: a commit is durable
/// when its WAL frames are synced, and a pass that records 100 MB does not wait for them to be
/// written a second time. The store waits for a running checkpoint when it goes away.

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "evidence/store.hpp"

struct sqlite3;

namespace snapgov::evidence {

/// A Store on a SQLite database file. Owns its connection.
class SqliteStore final : public Store {
public:
    /// How to open the file.
    enum class Mode {
        write, ///< create it (and its folder) if missing; appends allowed
        read,  ///< it must exist; nothing is written
    };

    /// Opens (or creates) `path`. Errors name the file and the fix.
    [[nodiscard]] static Result<std::unique_ptr<SqliteStore>> open(const std::string& path,
                                                                   Mode mode);
    ~SqliteStore() override;
    SqliteStore(const SqliteStore&) = delete;
    SqliteStore& operator=(const SqliteStore&) = delete;

    [[nodiscard]] Result<void> append(const std::vector<Record>& records,
                                      const std::optional<HeadSignature>& signature,
                                      const std::string& idle_key, const IdleState& idle) override;
    [[nodiscard]] Result<void> set_idle(const std::string& idle_key,
                                        const IdleState& idle) override;
    [[nodiscard]] Result<IdleState> idle(const std::string& idle_key) override;
    [[nodiscard]] Result<void> read(const std::string& host_id, std::uint64_t from,
                                    std::uint64_t to,
                                    const std::function<bool(const Record&)>& each) override;
    [[nodiscard]] Result<std::vector<Head>> heads() override;
    [[nodiscard]] Result<Head> head(const std::string& host_id) override;
    [[nodiscard]] Result<std::vector<HeadSignature>>
    signatures(const std::string& host_id) override;

    /// The file's path.
    [[nodiscard]] const std::string& path() const { return path_; }

private:
    SqliteStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
    [[nodiscard]] Result<void> exec(const char* sql);
    [[nodiscard]] Error error(const std::string& what) const;
    static int after_commit(void* self, sqlite3* db, const char* schema, int wal_pages);
    void checkpoint();

    sqlite3* db_;
    std::string path_;
    std::thread checkpointer_;
    std::atomic<bool> checkpointing_{false};
};

} // namespace snapgov::evidence
