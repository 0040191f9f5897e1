// job_json_text writes the same bytes as json_text(to_json(job)) plus n_ahead_in_queue: the
// fast writer must never drift from the job model's own JSON.
#include "http/job_json_text.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "core/json_text.hpp"

namespace wq::http {
namespace {

std::string reference(const Job& job, std::int64_t ahead) {
  boost::json::object o = to_json(job);
  o["n_ahead_in_queue"] = ahead;
  return json_text(o);
}

TEST(JobJsonText, WritesTheBytesOfTheJobModelsJson) {
  Job bare;
  bare.id = "0190aaaa-bbbb-7ccc-8ddd-eeeeffff0000";
  bare.task = "noop";

  Job full = bare;
  full.task = "resize \"big\"";
  full.params = boost::json::parse(R"({"n":3,"f":0.25,"s":"a\\b\n","list":[1,null,true],"o":{}})")
                    .as_object();
  full.key = "k\tey";
  full.owner = "acme";
  full.priority = -7;
  full.max_attempts = 3;
  full.timeout = Millis(1500);
  full.run_at = TimePoint(Millis(1763800000123));
  full.attempt = 2;
  full.created_at = TimePoint(Millis(1763800000000));
  full.started_at = TimePoint(Millis(1763800000456));
  full.state = JobState::running;
  full.seq = 18446744073709551615u;
  full.fraction = 0.3;
  full.message = "step \"2\" of 3 ✓";

  Job done = full;
  done.state = JobState::failed;
  done.finished_at = TimePoint(Millis(1763800009999));
  done.returncode = -999;
  done.error = "Exited with code 1\nstderr:\n\x01oops";
  Job succeeded = done;
  succeeded.state = JobState::succeeded;
  succeeded.returncode = 0;
  succeeded.error.reset();
  succeeded.result_size = 4096;
  Job whole_timeout = bare;
  whole_timeout.timeout = Millis(2000);

  for (const Job* job : {&bare, &full, &done, &succeeded, &whole_timeout}) {
    for (std::int64_t ahead : {0, 12}) {
      EXPECT_EQ(job_json_text(*job, ahead), reference(*job, ahead))
          << to_string(job->state) << " " << ahead;
    }
  }
}

}  // namespace
}  // namespace wq::http
