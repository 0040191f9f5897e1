// The WAL-buffering VFS (store/sqlite/wal_write_vfs.hpp) against real files: whatever a
// connection through it commits is in the WAL file when COMMIT returns (a connection of
// SQLite's own default VFS, and a reader during the writes, see every committed row and
// never a torn one), for transactions of one page, of more than one write call's 128 KiB,
// and larger than the page cache (SQLite spills and rewrites frames mid-transaction).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <string>
#include <thread>

#include "store/sqlite/sqlite_db.hpp"
#include "support/temp_dir.hpp"

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
    // A connection of SQLite's default VFS: it reads the WAL file as written to the OS.
    ASSERT_EQ(sqlite3_open_v2(path.c_str(), &plain, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  }
  void TearDown() override { sqlite3_close(plain); }

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

  test::TempDir dir;
  std::string path;
  std::unique_ptr<Db> writer;
  sqlite3* plain = nullptr;
};

TEST_F(WalWriteVfsTest, EveryCommitIsInTheWalFileWhenCommitReturns) {
  insert(0, 1, 10);
  EXPECT_EQ(read(plain), std::make_tuple(1L, 10L, true));
  insert(1, 3, 100'000);  // ~75 pages: more than one write call can take
  EXPECT_EQ(read(plain), std::make_tuple(4L, 300'010L, true));
  ASSERT_TRUE(writer->exec("PRAGMA cache_size=20"));  // 80 KB: the next transaction spills
  insert(4, 200, 3'000);
  EXPECT_EQ(read(plain), std::make_tuple(204L, 900'010L, true));
  ASSERT_TRUE(writer->exec("UPDATE t SET v = zeroblob(7), n = 7 WHERE k % 2 = 0"));
  EXPECT_EQ(read(plain), std::make_tuple(204L, 500'714L, true));
}

TEST_F(WalWriteVfsTest, TheWalIsReusedAfterACheckpointAndTheDatabaseStaysWhole) {
  for (int round = 0; round < 5; ++round) {
    insert(round * 50, 50, 2'000);
    ASSERT_TRUE(writer->exec("PRAGMA wal_checkpoint(RESTART)"));  // the next write restarts the WAL
    EXPECT_EQ(read(plain), std::make_tuple((round + 1) * 50L, (round + 1) * 100'000L, true));
  }
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(plain, "PRAGMA integrity_check", -1, &st, nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "ok");
  sqlite3_finalize(st);
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
  EXPECT_EQ(read(plain), std::make_tuple(2000L, 2'000'000L, true));
}

}  // namespace
}  // namespace wq::sqlite
