// The workqueue SQLite VFS (store/sqlite/wal_write_vfs.hpp) against real files.
//
// WAL writes: whatever a connection through it commits is in the WAL file when COMMIT returns
// (another connection, whose WAL file has its own empty buffer, and a reader during the
// writes, see every committed row and never a torn one), for transactions of one page, of
// more than one write call's 128 KiB, and larger than the page cache (SQLite spills and
// rewrites frames mid-transaction).
//
// The in-process WAL index (store/sqlite/wal_index.hpp): its locks follow SQLite's rules;
// connections on several threads, with checkpoints, see only whole commits and leave a whole
// database; another process (wq-sqlite-peer, tests/programs/sqlite_peer.cpp) cannot use the
// database while it is open here and can once it is closed; and a process killed mid-write
// leaves every row it committed, rebuilt from the WAL by the next one.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite/sqlite_db.hpp"
#include "store/sqlite/wal_index.hpp"
#include "support/temp_dir.hpp"

extern char** environ;

namespace wq::sqlite {
namespace {

class WalWriteVfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path = (dir.path() / "t.sqlite").string();
    auto db = Db::open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    ASSERT_TRUE(db) << db.error().detail;
    writer = std::move(*db);
    ASSERT_TRUE(
        writer->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                     "PRAGMA wal_autocheckpoint=0; CREATE TABLE t(k INTEGER PRIMARY KEY, "
                     "v BLOB NOT NULL, n INTEGER NOT NULL);"));
    // Its own WAL file's buffer is empty: it reads the WAL file as written to the OS.
    auto other_db = Db::open(path, SQLITE_OPEN_READONLY);
    ASSERT_TRUE(other_db) << other_db.error().detail;
    other = std::move(*other_db);
  }

  // Inserts `rows` rows of `bytes` bytes each in one transaction.
  void insert(int first, int rows, int bytes) {
    ASSERT_TRUE(writer->exec("BEGIN IMMEDIATE"));
    for (int i = first; i < first + rows; ++i) {
      ASSERT_TRUE(writer->exec("INSERT INTO t VALUES (" + std::to_string(i) + ", zeroblob(" +
                               std::to_string(bytes) + "), " + std::to_string(bytes) + ")"));
    }
    ASSERT_TRUE(writer->exec("COMMIT"));
  }

  // count(*) and sum of the row sizes as `db` sees them, and whether each row has its size.
  static std::tuple<long, long, bool> read(sqlite3* db) {
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db,
                       "SELECT count(*), coalesce(sum(n), 0), "
                       "coalesce(sum(length(v) = n), 0) = count(*) FROM t",
                       -1, &st, nullptr);
    long count = -1, bytes = -1;
    bool whole = false;
    if (sqlite3_step(st) == SQLITE_ROW) {
      count = sqlite3_column_int64(st, 0);
      bytes = sqlite3_column_int64(st, 1);
      whole = sqlite3_column_int(st, 2) == 1;
    }
    sqlite3_finalize(st);
    return {count, bytes, whole};
  }

  // Runs a RESTART checkpoint: the WAL's frames it found, -1 if another connection's
  // checkpoint was running or it timed out, -2 if it failed.
  static long checkpoint(sqlite3* db) {
    int frames = -1, done = -1;
    const int rc = sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_RESTART, &frames, &done);
    if (rc == SQLITE_BUSY) return -1;
    return rc == SQLITE_OK ? frames : -2;
  }

  static std::string integrity(sqlite3* db) {
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr);
    std::string result = "no result";
    if (sqlite3_step(st) == SQLITE_ROW) {
      result = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return result;
  }

  test::TempDir dir;
  std::string path;
  std::unique_ptr<Db> writer;
  std::unique_ptr<Db> other;
};

TEST_F(WalWriteVfsTest, EveryCommitIsInTheWalFileWhenCommitReturns) {
  insert(0, 1, 10);
  EXPECT_EQ(read(other->handle()), std::make_tuple(1L, 10L, true));
  insert(1, 3, 100'000);  // ~75 pages: more than one write call can take
  EXPECT_EQ(read(other->handle()), std::make_tuple(4L, 300'010L, true));
  ASSERT_TRUE(writer->exec("PRAGMA cache_size=20"));  // 80 KB: the next transaction spills
  insert(4, 200, 3'000);
  EXPECT_EQ(read(other->handle()), std::make_tuple(204L, 900'010L, true));
  ASSERT_TRUE(writer->exec("UPDATE t SET v = zeroblob(7), n = 7 WHERE k % 2 = 0"));
  EXPECT_EQ(read(other->handle()), std::make_tuple(204L, 500'714L, true));
}

TEST_F(WalWriteVfsTest, TheWalIsReusedAfterACheckpointAndTheDatabaseStaysWhole) {
  for (int round = 0; round < 5; ++round) {
    insert(round * 50, 50, 2'000);
    ASSERT_TRUE(writer->exec("PRAGMA wal_checkpoint(RESTART)"));  // the next write restarts the WAL
    EXPECT_EQ(read(other->handle()), std::make_tuple((round + 1) * 50L, (round + 1) * 100'000L, true));
  }
  EXPECT_EQ(integrity(other->handle()), "ok");
}

TEST_F(WalWriteVfsTest, AReaderDuringTheWritesSeesOnlyWholeCommits) {
  std::atomic<bool> done{false};
  std::atomic<int> bad{0}, reads{0};
  std::thread reader([&] {
    auto db = Db::open(path, SQLITE_OPEN_READONLY);
    if (!db) {
      bad = 1000;
      return;
    }
    sqlite3* h = (*db)->handle();
    while (!done.load()) {
      auto [count, bytes, whole] = read(h);
      // Every transaction below adds 10 rows of 1,000 bytes.
      if (count < 0 || count % 10 != 0 || bytes != count * 1000 || !whole) ++bad;
      ++reads;
    }
  });
  for (int i = 0; i < 200; ++i) insert(i * 10, 10, 1000);
  done = true;
  reader.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(read(other->handle()), std::make_tuple(2000L, 2'000'000L, true));
}

// ---- The in-process WAL index ----

TEST(WalIndex, LocksFollowSqlitesSharedAndExclusiveRules) {
  test::TempDir dir;
  const std::string path = (dir.path() / "locks.sqlite").string();
  std::ofstream(path).put('x');
  WalIndexHandle a, b;
  void volatile* region_a = nullptr;
  void volatile* region_b = nullptr;
  ASSERT_EQ(a.map(path.c_str(), 0, 32768, true, &region_a), SQLITE_OK);
  ASSERT_EQ(b.map(path.c_str(), 0, 32768, false, &region_b), SQLITE_OK);
  EXPECT_EQ(region_a, region_b);  // one index for both connections
  void volatile* missing = &missing;
  EXPECT_EQ(b.map(path.c_str(), 1, 32768, false, &missing), SQLITE_OK);
  EXPECT_EQ(missing, nullptr);  // not created without extend

  constexpr int kLock = SQLITE_SHM_LOCK, kUnlock = SQLITE_SHM_UNLOCK;
  constexpr int kShared = SQLITE_SHM_SHARED, kExcl = SQLITE_SHM_EXCLUSIVE;
  struct Step {
    WalIndexHandle* who;
    int offset, n, flags, expected;
  };
  const Step steps[] = {
      {&a, 3, 1, kLock | kShared, SQLITE_OK},    // read mark 0 shared by both
      {&b, 3, 1, kLock | kShared, SQLITE_OK},
      {&a, 3, 1, kLock | kExcl, SQLITE_BUSY},    // b holds it shared
      {&b, 3, 1, kUnlock | kShared, SQLITE_OK},
      {&a, 3, 1, kLock | kExcl, SQLITE_OK},      // a's own shared lock is no conflict
      {&b, 3, 1, kLock | kShared, SQLITE_BUSY},
      {&b, 0, 1, kLock | kExcl, SQLITE_OK},      // the write lock
      {&a, 0, 2, kLock | kExcl, SQLITE_BUSY},    // all or nothing: slot 1 is not taken
      {&b, 1, 1, kLock | kExcl, SQLITE_OK},
      {&b, 0, 8, kUnlock | kExcl, SQLITE_OK},    // releases slots 0 and 1, not a's slot 3
      {&b, 3, 1, kLock | kShared, SQLITE_BUSY},
      {&a, 0, 2, kLock | kExcl, SQLITE_OK},
      {&a, 0, 8, kUnlock | kExcl, SQLITE_OK},
      {&b, 2, 6, kLock | kExcl, SQLITE_OK},
  };
  for (std::size_t i = 0; i < std::size(steps); ++i) {
    const Step& s = steps[i];
    EXPECT_EQ(s.who->lock(s.offset, s.n, s.flags), s.expected) << "step " << i;
  }
  // Unmapping releases b's locks; the index goes with the last connection.
  EXPECT_EQ(b.unmap(false), SQLITE_OK);
  EXPECT_EQ(a.lock(2, 6, kLock | kExcl), SQLITE_OK);
  EXPECT_EQ(a.unmap(true), SQLITE_OK);
  EXPECT_FALSE(std::filesystem::exists(path + "-shm"));
  void volatile* fresh = nullptr;
  ASSERT_EQ(a.map(path.c_str(), 0, 32768, true, &fresh), SQLITE_OK);
  EXPECT_EQ(static_cast<const volatile char*>(fresh)[0], 0);
}

TEST_F(WalWriteVfsTest, ConnectionsOnSeveralThreadsSeeOnlyWholeCommitsAndCheckpointsRestartTheWal) {
  constexpr int kWriters = 3, kTransactions = 150, kRows = 4, kBytes = 1000;
  constexpr int kCheckpointEvery = 25;
  std::atomic<int> writers_left{kWriters}, bad{0}, reads{0};
  std::mutex checkpoints_mutex;
  std::vector<long> checkpoints;  // the frames each checkpoint found, in order
  auto open = [&](int flags) {
    auto db = Db::open(path, flags);
    if (!db || !(*db)->exec("PRAGMA busy_timeout=100")) {
      ++bad;
      return std::unique_ptr<Db>();
    }
    return std::move(*db);
  };
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      auto db = open(SQLITE_OPEN_READWRITE);
      for (int t = 0; db && t < kTransactions; ++t) {
        const int first = (w * kTransactions + t) * kRows + 1'000'000;
        std::string sql = "BEGIN IMMEDIATE;";
        for (int k = first; k < first + kRows; ++k) {
          sql += "INSERT INTO t VALUES (" + std::to_string(k) + ", zeroblob(" +
                 std::to_string(kBytes) + "), " + std::to_string(kBytes) + ");";
        }
        // SQLite reports SQLITE_BUSY despite the busy timeout when writers and RESTART
        // checkpoints meet (its default VFS as well): the transaction is tried again.
        while (!db->exec(sql + "COMMIT;")) {
          if (sqlite3_extended_errcode(db->handle()) != SQLITE_BUSY) {
            ++bad;
            break;
          }
          if (sqlite3_get_autocommit(db->handle()) == 0 && !db->exec("ROLLBACK")) ++bad;
        }
        if (t % kCheckpointEvery == kCheckpointEvery - 1) {
          const long frames = checkpoint(db->handle());
          if (frames == -2) ++bad;
          if (frames < 0) continue;
          std::lock_guard lock(checkpoints_mutex);
          checkpoints.push_back(frames);
        }
      }
      --writers_left;
    });
  }
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&] {
      auto db = open(SQLITE_OPEN_READONLY);
      while (db && writers_left.load() > 0) {
        auto [count, bytes, whole] = read(db->handle());
        if (count < 0 || count % kRows != 0 || bytes != count * kBytes || !whole) ++bad;
        ++reads;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(reads.load(), 0);
  // After a checkpoint the next write starts the WAL again: a later checkpoint finds fewer
  // frames than an earlier one.
  EXPECT_TRUE(std::is_sorted(checkpoints.begin(), checkpoints.end()) == false)
      << ::testing::PrintToString(checkpoints);
  constexpr long kTotal = long{kWriters} * kTransactions * kRows;
  EXPECT_EQ(read(other->handle()), std::make_tuple(kTotal, kTotal * kBytes, true));
  EXPECT_EQ(integrity(other->handle()), "ok");
  EXPECT_GE(checkpoint(writer->handle()), 0);
  insert(0, 1, 10);
  EXPECT_LE(checkpoint(writer->handle()), 3);
}

// Runs wq-sqlite-peer with `args`; its stdout, and its wait status.
std::pair<std::string, int> run_peer(const test::TempDir& dir, std::vector<std::string> args) {
  const std::string out = (dir.path() / "peer.out").string();
  args.insert(args.begin(), WQ_SQLITE_PEER);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, WQ_SQLITE_PEER, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return {"spawn failed", -1};
  int status = 0;
  ::waitpid(pid, &status, 0);
  std::ostringstream text;
  text << std::ifstream(out).rdbuf();
  return {text.str(), status};
}

TEST_F(WalWriteVfsTest, AnotherProcessCannotUseTheDatabaseUntilItIsClosedHere) {
  insert(0, 3, 10);
  // The other process's default VFS finds the -shm file locked: SQLite takes that for a
  // process setting the file up, retries for ~10 s and gives up with SQLITE_PROTOCOL.
  auto [refused, status] = run_peer(dir, {"count", path});
  EXPECT_EQ(status, 0);
  EXPECT_TRUE(refused.starts_with("error 15 ") || refused.starts_with("error 5 ")) << refused;
  writer.reset();
  other.reset();
  auto [counted, _] = run_peer(dir, {"count", path});
  EXPECT_EQ(counted, "rows 3\n");
}

TEST_F(WalWriteVfsTest, AProcessKilledMidWriteLeavesEveryRowItCommitted) {
  writer.reset();
  other.reset();
  auto [out, status] = run_peer(dir, {"commit-and-die", path, "100"});
  EXPECT_EQ(out, "committed\n");
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
  // The commits are only in the WAL: the next connection rebuilds the index from it.
  EXPECT_GT(std::filesystem::file_size(path + "-wal"), 100u * 4096);
  auto db = Db::open(path, SQLITE_OPEN_READWRITE);
  ASSERT_TRUE(db) << db.error().detail;
  EXPECT_EQ(read((*db)->handle()), std::make_tuple(100L, 10'000L, true));
  EXPECT_EQ(integrity((*db)->handle()), "ok");
  ASSERT_TRUE((*db)->exec("INSERT INTO t VALUES (100, zeroblob(5), 5)"));
  EXPECT_EQ(read((*db)->handle()), std::make_tuple(101L, 10'005L, true));
}

}  // namespace
}  // namespace wq::sqlite
