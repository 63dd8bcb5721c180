#include "evidence/sqlite_store.hpp"

#include "core/log.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

namespace snapgov::evidence {
namespace {

/// WAL size after a commit that starts a checkpoint (SQLite's own default for its automatic
/// checkpoints, which are turned off in favour of the background ones).
constexpr int kCheckpointPages = 1000;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta(key, value) VALUES('format', 'snapgov-evidence/1');
CREATE TABLE IF NOT EXISTS records(
  host_id TEXT NOT NULL, seq INTEGER NOT NULL, prev_hash TEXT NOT NULL, type TEXT NOT NULL,
  time TEXT NOT NULL, pass INTEGER NOT NULL, body TEXT NOT NULL, hash TEXT NOT NULL,
  PRIMARY KEY(host_id, seq));
CREATE TABLE IF NOT EXISTS signatures(
  host_id TEXT NOT NULL, seq INTEGER NOT NULL, hash TEXT NOT NULL, public_key TEXT NOT NULL,
  signature TEXT NOT NULL, time TEXT NOT NULL, PRIMARY KEY(host_id, seq));
CREATE TABLE IF NOT EXISTS idle(
  key TEXT PRIMARY KEY, digest TEXT NOT NULL, identical INTEGER NOT NULL,
  first TEXT NOT NULL, last TEXT NOT NULL, recorded TEXT NOT NULL);
)sql";

std::string octal(mode_t mode) {
    std::ostringstream out;
    out << '0' << std::oct << (mode & 0777);
    return out.str();
}

/// The rule for files snapgov keeps (core/checked_file's rule for secrets, less "not empty":
/// a new ledger starts empty).
Result<void> check_owned_private(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        return fail(ErrorCode::io,
                    "evidence ledger '" + path + "' cannot be examined: " + std::strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        return fail(ErrorCode::config, "evidence ledger '" + path +
                                           "' is not a regular file (a symbolic link, folder, "
                                           "device or FIFO); give the path of a file");
    }
    if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
        return fail(ErrorCode::config, "evidence ledger '" + path + "' is owned by uid " +
                                           std::to_string(st.st_uid) +
                                           ", who could rewrite it; it must be owned by root or "
                                           "by the user snapgov runs as (uid " +
                                           std::to_string(::geteuid()) + "): run chown on it");
    }
    if ((st.st_mode & 077) != 0) {
        return fail(ErrorCode::config, "evidence ledger '" + path +
                                           "' is accessible by group or others (mode " +
                                           octal(st.st_mode) + "); run chmod 600 on it");
    }
    return {};
}

/// Makes a new, empty ledger at `path`: complete (schema and format mark) under a temporary
/// name, then renamed into place, so that a crash (kill -9) while it is made never leaves a
/// file that `evidence verify` refuses as "not a snapgov evidence ledger". Created 0600
/// whatever the umask; SQLite's -wal and -shm files take the mode from it. A ledger another
/// process made meanwhile is kept.
Result<void> create_ledger(const std::string& path) {
    const std::string tmp = path + ".new";
    auto failed = [&](const std::string& why) {
        ::unlink(tmp.c_str());
        return fail(ErrorCode::io, "cannot create the evidence ledger '" + path + "': " + why +
                                       " (is its folder writable by this user?)");
    };
    // Leftovers of a crash while making one (its rollback journal must not meet a new file).
    (void)::unlink(tmp.c_str());
    (void)::unlink((tmp + "-journal").c_str());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        return failed(std::strerror(errno));
    }
    (void)::fchmod(fd, 0600);
    ::close(fd);
    sqlite3* db = nullptr;
    int rc =
        sqlite3_open_v2(tmp.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, nullptr);
    std::string text;
    if (rc == SQLITE_OK) {
        // A rollback journal while it is made: the whole file is one durable database once
        // the transaction commits (a WAL would keep the schema in the -wal file).
        const std::string sql = std::string("PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL; "
                                            "BEGIN IMMEDIATE;") +
                                kSchema + "COMMIT;";
        char* message = nullptr;
        rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
        text = message != nullptr ? message : sqlite3_errmsg(db);
        sqlite3_free(message);
    } else {
        text = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
    }
    sqlite3_close(db);
    if (rc != SQLITE_OK) {
        return failed(text);
    }
    if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) != 0) {
        if (errno != EEXIST) {
            return failed(std::string("cannot rename ") + tmp + ": " + std::strerror(errno));
        }
        ::unlink(tmp.c_str()); // made by another process meanwhile: that one stays
    }
    const std::string folder = std::filesystem::path(path).parent_path().string();
    const int dir =
        ::open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        const int synced = ::fsync(dir);
        const int err = errno;
        ::close(dir);
        if (synced != 0) {
            return fail(ErrorCode::io, "fsync of the folder of the evidence ledger '" + path +
                                           "' failed: " + std::strerror(err));
        }
    }
    return {};
}

/// A prepared statement, finalized when it goes away.
class Statement {
public:
    Statement(sqlite3* db, const char* sql) {
        if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
            stmt_ = nullptr;
        }
    }
    ~Statement() { sqlite3_finalize(stmt_); }
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    [[nodiscard]] bool ok() const { return stmt_ != nullptr; }
    void text(int i, const std::string& s) {
        // Static: every bound string outlives the step that reads it (bindings are cleared by
        // reset()), so SQLite need not copy it.
        sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
    }
    void text(int i, std::string&& s) = delete; // would dangle before step()
    void integer(int i, std::uint64_t v) {
        sqlite3_bind_int64(stmt_, i, static_cast<sqlite3_int64>(v));
    }
    [[nodiscard]] int step() { return sqlite3_step(stmt_); }
    void reset() {
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
    }
    [[nodiscard]] std::string column_text(int i) const {
        const auto* p = sqlite3_column_text(stmt_, i);
        const int n = sqlite3_column_bytes(stmt_, i);
        return p != nullptr
                   ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n))
                   : std::string();
    }
    [[nodiscard]] std::uint64_t column_u64(int i) const {
        return static_cast<std::uint64_t>(sqlite3_column_int64(stmt_, i));
    }

private:
    sqlite3_stmt* stmt_ = nullptr;
};

} // namespace

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path, Mode mode) {
    if (path.empty()) {
        return fail(ErrorCode::config, "evidence.path is empty; give the ledger's file");
    }
    namespace fs = std::filesystem;
    std::error_code ec;
    const bool exists = fs::symlink_status(path, ec).type() != fs::file_type::not_found;
    if (!exists && mode == Mode::read) {
        return fail(ErrorCode::not_found, "evidence ledger '" + path +
                                              "' does not exist (no pass has been recorded "
                                              "there; is evidence.path right?)");
    }
    if (mode == Mode::write) {
        // SQLite says only "unable to open database file" when the -wal file cannot be made
        // on a read-only file system; say what it is.
        const fs::path folder = fs::path(path).parent_path();
        struct statvfs vfs {};
        if (::statvfs(folder.empty() ? "." : folder.c_str(), &vfs) == 0 &&
            (vfs.f_flag & ST_RDONLY) != 0) {
            return fail(ErrorCode::io, "cannot write the evidence ledger '" + path +
                                           "': its folder is on a read-only file system");
        }
    }
    if (!exists) {
        const fs::path parent = fs::path(path).parent_path();
        if (!parent.empty() && !fs::exists(parent, ec)) {
            // Like the state directory: the folders snapgov creates are private.
            fs::create_directories(parent, ec);
            if (ec) {
                return fail(ErrorCode::io, "cannot create the folder of the evidence ledger '" +
                                               path + "': " + ec.message());
            }
            ::chmod(parent.c_str(), 0700);
        }
        if (auto made = create_ledger(path); !made) {
            return tl::unexpected(made.error());
        }
    }
    if (auto ok = check_owned_private(path); !ok) {
        return tl::unexpected(ok.error());
    }
    sqlite3* db = nullptr;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_FULLMUTEX;
    int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
    if (rc != SQLITE_OK && mode == Mode::read) {
        // An auditor may have read access only.
        sqlite3_close(db);
        db = nullptr;
        flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW;
        rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
    }
    std::unique_ptr<SqliteStore> store(new SqliteStore(db, path));
    if (rc != SQLITE_OK) {
        return tl::unexpected(store->error("cannot open"));
    }
    sqlite3_busy_timeout(db, 10000);
    if (mode == Mode::write) {
        for (const char* sql : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", kSchema}) {
            if (auto r = store->exec(sql); !r) {
                return tl::unexpected(r.error());
            }
        }
        // Replaces SQLite's automatic checkpoint, which would run inside the commit.
        sqlite3_wal_hook(db, &SqliteStore::after_commit, store.get());
    } else {
        Statement check(db, "SELECT value FROM meta WHERE key='format'");
        if (!check.ok() || check.step() != SQLITE_ROW ||
            check.column_text(0) != "snapgov-evidence/1") {
            return fail(ErrorCode::config, "'" + path +
                                               "' is not a snapgov evidence ledger (no "
                                               "'snapgov-evidence/1' format mark)");
        }
    }
    return store;
}

SqliteStore::~SqliteStore() {
    if (checkpointer_.joinable()) {
        checkpointer_.join();
    }
    sqlite3_close_v2(db_);
}

int SqliteStore::after_commit(void* self, sqlite3* /*db*/, const char* /*schema*/, int wal_pages) {
    auto* store = static_cast<SqliteStore*>(self);
    if (wal_pages < kCheckpointPages || store->checkpointing_.load()) {
        return SQLITE_OK; // a running checkpoint takes the new frames too, or the next one
    }
    if (store->checkpointer_.joinable()) {
        store->checkpointer_.join(); // finished: checkpointing_ is false
    }
    store->checkpointing_ = true;
    store->checkpointer_ = std::thread([store] {
        store->checkpoint();
        store->checkpointing_ = false;
    });
    return SQLITE_OK;
}

void SqliteStore::checkpoint() {
    sqlite3* db = nullptr;
    int rc =
        sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, nullptr);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, 10000);
        rc = sqlite3_exec(db, "PRAGMA synchronous=FULL", nullptr, nullptr, nullptr);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    }
    if (rc != SQLITE_OK) {
        // Nothing is lost: the records are in the WAL, which the next checkpoint copies.
        log::warning("evidence ledger '" + path_ + "': a checkpoint of its WAL file failed (" +
                     (db != nullptr ? sqlite3_errmsg(db) : "out of memory") +
                     "); the -wal file grows until one succeeds");
    }
    sqlite3_close_v2(db);
}

Error SqliteStore::error(const std::string& what) const {
    return Error{ErrorCode::io, "evidence ledger '" + path_ + "': " + what + ": " +
                                    (db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory")};
}

Result<void> SqliteStore::exec(const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
        std::string text = message != nullptr ? message : sqlite3_errmsg(db_);
        sqlite3_free(message);
        return fail(ErrorCode::io, "evidence ledger '" + path_ + "': " + text);
    }
    return {};
}

namespace {

Result<void> put_idle(sqlite3* db, const std::string& key, const IdleState& idle) {
    Statement st(db, "INSERT INTO idle(key, digest, identical, first, last, recorded) "
                     "VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(key) DO UPDATE SET "
                     "digest=excluded.digest, identical=excluded.identical, "
                     "first=excluded.first, last=excluded.last, recorded=excluded.recorded");
    if (!st.ok()) {
        return fail(ErrorCode::io, sqlite3_errmsg(db));
    }
    st.text(1, key);
    st.text(2, idle.digest);
    st.integer(3, idle.identical);
    st.text(4, idle.first);
    st.text(5, idle.last);
    st.text(6, idle.recorded);
    if (st.step() != SQLITE_DONE) {
        return fail(ErrorCode::io, sqlite3_errmsg(db));
    }
    return {};
}

} // namespace

Result<void> SqliteStore::append(const std::vector<Record>& records,
                                 const std::optional<HeadSignature>& signature,
                                 const std::string& idle_key, const IdleState& idle) {
    if (records.empty()) {
        return fail(ErrorCode::internal, "evidence: an append without records");
    }
    if (auto r = exec("BEGIN IMMEDIATE"); !r) {
        return r;
    }
    auto body = [&]() -> Result<void> {
        Statement ins(db_, "INSERT INTO records(host_id, seq, prev_hash, type, time, pass, body, "
                           "hash) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
        if (!ins.ok()) {
            return tl::unexpected(error("cannot prepare"));
        }
        for (const auto& r : records) {
            ins.text(1, r.host_id);
            ins.integer(2, r.seq);
            ins.text(3, r.prev_hash);
            ins.text(4, r.type);
            ins.text(5, r.time);
            ins.integer(6, r.pass);
            ins.text(7, r.body);
            ins.text(8, r.hash);
            if (ins.step() != SQLITE_DONE) {
                return tl::unexpected(error("cannot append record " + std::to_string(r.seq)));
            }
            ins.reset();
        }
        if (signature) {
            Statement sig(db_, "INSERT OR REPLACE INTO signatures(host_id, seq, hash, public_key, "
                               "signature, time) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
            if (!sig.ok()) {
                return tl::unexpected(error("cannot prepare"));
            }
            sig.text(1, signature->host_id);
            sig.integer(2, signature->seq);
            sig.text(3, signature->hash);
            sig.text(4, signature->public_key);
            sig.text(5, signature->signature);
            sig.text(6, signature->time);
            if (sig.step() != SQLITE_DONE) {
                return tl::unexpected(error("cannot store the head signature"));
            }
        }
        if (auto r = put_idle(db_, idle_key, idle); !r) {
            return tl::unexpected(error("cannot store the idle state"));
        }
        return {};
    }();
    if (!body) {
        (void)exec("ROLLBACK");
        return body;
    }
    if (auto r = exec("COMMIT"); !r) {
        (void)exec("ROLLBACK");
        return r;
    }
    return {};
}

Result<void> SqliteStore::set_idle(const std::string& idle_key, const IdleState& idle) {
    if (auto r = put_idle(db_, idle_key, idle); !r) {
        return tl::unexpected(error("cannot store the idle state"));
    }
    return {};
}

Result<IdleState> SqliteStore::idle(const std::string& idle_key) {
    Statement st(db_, "SELECT digest, identical, first, last, recorded FROM idle WHERE key=?1");
    if (!st.ok()) {
        return tl::unexpected(error("cannot read the idle state"));
    }
    st.text(1, idle_key);
    IdleState out;
    const int rc = st.step();
    if (rc == SQLITE_ROW) {
        out.digest = st.column_text(0);
        out.identical = st.column_u64(1);
        out.first = st.column_text(2);
        out.last = st.column_text(3);
        out.recorded = st.column_text(4);
    } else if (rc != SQLITE_DONE) {
        return tl::unexpected(error("cannot read the idle state"));
    }
    return out;
}

Result<void> SqliteStore::read(const std::string& host_id, std::uint64_t from, std::uint64_t to,
                               const std::function<bool(const Record&)>& each) {
    Statement st(db_, "SELECT host_id, seq, prev_hash, type, time, pass, body, hash FROM records "
                      "WHERE host_id=?1 AND seq BETWEEN ?2 AND ?3 ORDER BY seq");
    if (!st.ok()) {
        return tl::unexpected(error("cannot read records"));
    }
    st.text(1, host_id);
    st.integer(2, from);
    // Seqs are stored as SQLite's signed 64-bit integers.
    st.integer(3, std::min<std::uint64_t>(to, static_cast<std::uint64_t>(INT64_MAX)));
    Record r;
    for (;;) {
        const int rc = st.step();
        if (rc == SQLITE_DONE) {
            return {};
        }
        if (rc != SQLITE_ROW) {
            return tl::unexpected(error("cannot read records"));
        }
        r.host_id = st.column_text(0);
        r.seq = st.column_u64(1);
        r.prev_hash = st.column_text(2);
        r.type = st.column_text(3);
        r.time = st.column_text(4);
        r.pass = st.column_u64(5);
        r.body = st.column_text(6);
        r.hash = st.column_text(7);
        if (!each(r)) {
            return {};
        }
    }
}

Result<std::vector<Head>> SqliteStore::heads() {
    Statement st(db_, "SELECT r.host_id, r.seq, r.hash, r.time FROM records r JOIN (SELECT "
                      "host_id, MAX(seq) AS seq FROM records GROUP BY host_id) m ON "
                      "r.host_id=m.host_id AND r.seq=m.seq ORDER BY r.host_id");
    if (!st.ok()) {
        return tl::unexpected(error("cannot read heads"));
    }
    std::vector<Head> out;
    for (int rc = st.step(); rc != SQLITE_DONE; rc = st.step()) {
        if (rc != SQLITE_ROW) {
            return tl::unexpected(error("cannot read heads"));
        }
        out.push_back({st.column_text(0), st.column_u64(1), st.column_text(2), st.column_text(3)});
    }
    return out;
}

Result<Head> SqliteStore::head(const std::string& host_id) {
    Statement st(db_, "SELECT seq, hash, time FROM records WHERE host_id=?1 ORDER BY seq DESC "
                      "LIMIT 1");
    if (!st.ok()) {
        return tl::unexpected(error("cannot read the head"));
    }
    st.text(1, host_id);
    Head out{host_id, 0, std::string(kGenesisHash), ""};
    const int rc = st.step();
    if (rc == SQLITE_ROW) {
        out.seq = st.column_u64(0);
        out.hash = st.column_text(1);
        out.time = st.column_text(2);
    } else if (rc != SQLITE_DONE) {
        return tl::unexpected(error("cannot read the head"));
    }
    return out;
}

Result<std::vector<HeadSignature>> SqliteStore::signatures(const std::string& host_id) {
    Statement st(db_, "SELECT host_id, seq, hash, public_key, signature, time FROM signatures "
                      "WHERE host_id=?1 ORDER BY seq");
    if (!st.ok()) {
        return tl::unexpected(error("cannot read signatures"));
    }
    st.text(1, host_id);
    std::vector<HeadSignature> out;
    for (int rc = st.step(); rc != SQLITE_DONE; rc = st.step()) {
        if (rc != SQLITE_ROW) {
            return tl::unexpected(error("cannot read signatures"));
        }
        out.push_back({st.column_text(0), st.column_u64(1), st.column_text(2), st.column_text(3),
                       st.column_text(4), st.column_text(5)});
    }
    return out;
}

} // namespace snapgov::evidence
