// The embedded queue on the PostgreSQL store (one node): what the store's writer must not break
// in the dispatcher's claim protocol, and jobs enqueued by an application inside its own
// transaction with wq.enqueue() (DESIGN §5).
#include "support/pg_cluster.hpp"
#include "support/temp_dir.hpp"
#include "support/watch.hpp"
#include "wq/queue.hpp"

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <poll.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace wq {
namespace {

// A node of the test database with its own data directory.
Config node_config(const test::TestDatabase& db, const test::TempDir& dir, int concurrency) {
  Config c;
  c.store = db.url();
  c.data_dir = dir.path();
  c.concurrency = concurrency;
  return c;
}

// Regression: a submit whose batch found the node's free slots reserved by another writer's
// batch (a finish committing at the same moment) left its job queued until the next submit.
TEST(PgQueue, JobsSubmittedOneAfterAnotherAsTheLastStartsAllStart) {
  test::TempDir dir;
  test::TestDatabase db;
  Config c = node_config(db, dir, 8);
  Queue q(c);
  std::mutex m;
  std::condition_variable cv;
  int started = 0;
  q.register_task("stamp", [&](TaskContext&) {
    std::lock_guard lock(m);
    ++started;
    cv.notify_all();
  });
  for (int i = 0; i < 200; ++i) {
    auto s = q.submit({.task = "stamp", .params = {{"i", i}}});
    ASSERT_TRUE(s) << s.error().detail;
    std::unique_lock lock(m);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return started == i + 1; }))
        << "job " << i << " never started";
  }
}

// Regression: under steady traffic the hook claims of submits and finishes overlap all the time,
// and the dispatcher claimed again after every overlap: a dozen empty claims (each a
// transaction) per job. A job here costs its submit's commit (which claims it) and its
// finish's; a few more are allowed for claims that race.
TEST(PgQueue, JobsSubmittedOneAfterAnotherCostAboutTwoCommitsEach) {
  test::TempDir dir;
  test::TestDatabase db;
  Config c = node_config(db, dir, 8);
  Queue q(c);
  q.register_task("noop", [](TaskContext&) {});
  constexpr int kJobs = 300;
  const auto commits0 = q.stats().store.commits;
  std::vector<std::string> ids;
  for (int i = 0; i < kJobs; ++i) {
    auto s = q.submit({.task = "noop", .params = {{"i", i}}});
    ASSERT_TRUE(s) << s.error().detail;
    ids.push_back(s->job.id);
  }
  for (const auto& id : ids) ASSERT_EQ(test::wait_terminal(q, id).state, JobState::succeeded);
  const auto commits = q.stats().store.commits - commits0;
  EXPECT_LT(commits, 4u * kJobs) << commits << " commits for " << kJobs << " jobs";
}

// An application's own connection to the queue's database: statements in its transactions.
class AppConnection {
 public:
  explicit AppConnection(const std::string& url) : c_(PQconnectdb(url.c_str())) {
    if (PQstatus(c_) != CONNECTION_OK) ADD_FAILURE() << PQerrorMessage(c_);
  }
  ~AppConnection() { PQfinish(c_); }
  AppConnection(const AppConnection&) = delete;
  AppConnection& operator=(const AppConnection&) = delete;

  struct Answer {
    bool ok = false;
    std::string value;  // the first column of the first row, or the error message
  };
  Answer run(const std::string& sql) {
    PGresult* r = PQexec(c_, sql.c_str());
    Answer a;
    const auto status = PQresultStatus(r);
    a.ok = status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK;
    if (!a.ok) {
      a.value = PQresultErrorMessage(r);
    } else if (PQntuples(r) > 0 && PQnfields(r) > 0) {
      a.value = PQgetvalue(r, 0, 0);
    }
    PQclear(r);
    return a;
  }
  std::string value(const std::string& sql) {
    auto a = run(sql);
    EXPECT_TRUE(a.ok) << sql << ": " << a.value;
    return a.value;
  }

 private:
  PGconn* c_;
};

// Hears the notifications on the nodes' channel, as a node does.
class ChannelListener {
 public:
  explicit ChannelListener(const std::string& url) : c_(PQconnectdb(url.c_str())) {
    PGresult* r = PQexec(c_, "LISTEN wq_events");
    EXPECT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQerrorMessage(c_);
    PQclear(r);
  }
  ~ChannelListener() { PQfinish(c_); }
  ChannelListener(const ChannelListener&) = delete;
  ChannelListener& operator=(const ChannelListener&) = delete;

  // Every payload heard until (and with) `last`. Fails the test if `last` is not heard within
  // a minute (a guard against hanging, not a timing assertion).
  std::vector<std::string> until(const std::string& last) {
    std::vector<std::string> heard;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (;;) {
      PQconsumeInput(c_);
      while (PGnotify* n = PQnotifies(c_)) {
        heard.emplace_back(n->extra);
        PQfreemem(n);
        if (heard.back() == last) return heard;
      }
      if (std::chrono::steady_clock::now() > give_up) {
        ADD_FAILURE() << "'" << last << "' was not heard on wq_events";
        return heard;
      }
      pollfd p{PQsocket(c_), POLLIN, 0};
      ::poll(&p, 1, 1000);
    }
  }

 private:
  PGconn* c_;
};

constexpr const char* kWorkPayload = R"({"k":"w"})";  // what wq.enqueue() sends

class PgEnqueue : public ::testing::Test {
 protected:
  PgEnqueue() {
    Config c = node_config(db, dir, 4);
    queue = std::make_unique<Queue>(c);
    queue->register_task("stamp", [](TaskContext& ctx) { ctx.progress(0.5, "half"); });
    // The node names its tasks in wq_tasks in the transaction of its first claim: once a job
    // of the task ran here, wq.enqueue() knows the task.
    auto s = queue->submit({.task = "stamp", .params = {{"warm-up", true}}});
    EXPECT_TRUE(s) << s.error().detail;
    if (s) {
      EXPECT_EQ(test::wait_terminal(*queue, s->job.id).state, JobState::succeeded);
    }
  }

  std::string count_jobs(const std::string& where) {
    return app.value("SELECT count(*) FROM wq_jobs WHERE " + where);
  }

  test::TempDir dir;
  test::TestDatabase db;
  std::unique_ptr<Queue> queue;
  AppConnection app{db.url()};
  ChannelListener listener{db.url()};
};

TEST_F(PgEnqueue, AJobEnqueuedInATransactionThatCommitsRuns) {
  app.value("CREATE TABLE orders (id INTEGER)");
  app.value("BEGIN");
  app.value("INSERT INTO orders VALUES (7)");
  const std::string id = app.value("SELECT wq.enqueue('stamp', '{\"order\": 7}')");
  EXPECT_EQ(id.size(), 36u) << id;  // a UUIDv7, as the nodes make
  EXPECT_EQ(id[14], '7') << id;
  app.value("COMMIT");
  // The commit told the nodes (without it this idle node would find the job only when some
  // periodic task of its dispatcher runs).
  const auto heard = listener.until(kWorkPayload);
  EXPECT_EQ(heard.back(), kWorkPayload);
  const Snapshot end = test::wait_terminal(*queue, id);
  EXPECT_EQ(end.state, JobState::succeeded);
  auto job = queue->get(id);
  ASSERT_TRUE(job) << job.error().detail;
  EXPECT_EQ(job->task, "stamp");
  EXPECT_EQ(job->params.at("order").as_int64(), 7);
  EXPECT_EQ(job->attempt, 1);
}

TEST_F(PgEnqueue, AJobEnqueuedInATransactionThatRollsBackDoesNotExist) {
  app.value("BEGIN");
  const std::string id = app.value("SELECT wq.enqueue('stamp', '{\"order\": 8}', key => 'order-8')");
  EXPECT_EQ(count_jobs("key = 'order-8'"), "1");  // inside the transaction it is there
  app.value("ROLLBACK");
  EXPECT_EQ(count_jobs("key = 'order-8'"), "0");
  // Nor were the nodes woken: notifications arrive in commit order, and none came before a
  // marker committed after the rollback.
  app.value(R"(SELECT pg_notify('wq_events', '{"k":"marker"}'))");
  for (const auto& payload : listener.until(R"({"k":"marker"})")) {
    EXPECT_NE(payload, kWorkPayload);
  }
  auto job = queue->get(id);
  EXPECT_FALSE(job) << "job " << id << " exists after its transaction rolled back";
  // The key is free: enqueueing it again makes a new job.
  const std::string again = app.value("SELECT wq.enqueue('stamp', '{\"order\": 8}', key => 'order-8')");
  EXPECT_NE(again, id);
  EXPECT_EQ(test::wait_terminal(*queue, again).state, JobState::succeeded);
}

TEST_F(PgEnqueue, OneKeyEnqueuedTwiceIsOneJob) {
  app.value("BEGIN");
  const std::string a = app.value("SELECT wq.enqueue('stamp', '{\"n\": 1}', key => 'report-1')");
  const std::string b = app.value("SELECT wq.enqueue('stamp', '{\"n\": 2}', key => 'report-1')");
  app.value("COMMIT");
  EXPECT_EQ(a, b);
  EXPECT_EQ(test::wait_terminal(*queue, a).state, JobState::succeeded);
  // Done and retained: the same job ("already done"), in a later transaction too.
  EXPECT_EQ(app.value("SELECT wq.enqueue('stamp', '{\"n\": 3}', key => 'report-1')"), a);
  EXPECT_EQ(count_jobs("key = 'report-1'"), "1");
  // Without a key, the same task and params are the same work.
  const std::string c = app.value("SELECT wq.enqueue('stamp', '{\"y\": 1, \"x\": 2}')");
  const std::string d = app.value("SELECT wq.enqueue('stamp', '{\"x\": 2, \"y\": 1}')");
  EXPECT_EQ(c, d);
  EXPECT_NE(app.value("SELECT wq.enqueue('stamp', '{\"x\": 3}')"), c);
}

TEST_F(PgEnqueue, BadArgumentsAreClearErrors) {
  struct Case {
    std::string call;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"wq.enqueue('nope')", "unknown task 'nope'; tasks the nodes run: stamp"},
      {"wq.enqueue('stamp', '[1, 2]')", "params must be a JSON object, got array"},
      {"wq.enqueue('stamp', NULL)", "params must be a JSON object, got NULL"},
      {"wq.enqueue('stamp', key => '')", "key must be 1 to 512 characters"},
      {"wq.enqueue('stamp', max_attempts => 0)", "max_attempts must be 1 to 1000, got 0"},
      {"wq.enqueue('stamp', timeout => interval '-1 second')", "timeout must be positive"},
      {"wq.enqueue('stamp', owner => NULL)", "owner and priority must not be NULL"},
  };
  for (const auto& c : cases) {
    auto a = app.run("SELECT " + c.call);
    EXPECT_FALSE(a.ok) << c.call << " returned " << a.value;
    EXPECT_NE(a.value.find(c.error), std::string::npos) << c.call << ": " << a.value;
  }
  EXPECT_EQ(count_jobs("true"), "1");  // only the warm-up job
}

}  // namespace
}  // namespace wq
