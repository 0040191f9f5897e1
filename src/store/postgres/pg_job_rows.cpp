#include "store/postgres/pg_job_rows.hpp"

#include <boost/json/parse.hpp>

#include <string>

namespace wq::postgres {

boost::json::object parse_object(std::string_view text) {
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) return {};
  return std::move(v.as_object());
}

Job row_to_job(const PgRows& r, int i) {
  Job j;
  j.id = std::string(r.text(i, 1));
  j.task = std::string(r.text(i, 2));
  j.params = parse_object(r.text(i, 3));
  j.key = std::string(r.text(i, 4));
  j.owner = std::string(r.text(i, 5));
  j.priority = static_cast<int>(r.int64(i, 6));
  j.max_attempts = static_cast<int>(r.int64(i, 7));
  if (auto t = r.opt_int64(i, 8)) j.timeout = Millis(*t);
  j.run_at = from_ms(r.int64(i, 9));
  j.attempt = static_cast<int>(r.int64(i, 10));
  j.state = static_cast<JobState>(r.int64(i, 11));
  j.seq = static_cast<std::uint64_t>(r.int64(i, 12));
  j.fraction = r.real(i, 13);
  j.message = r.opt_text(i, 14);
  if (auto rc = r.opt_int64(i, 15)) j.returncode = static_cast<int>(*rc);
  j.error = r.opt_text(i, 16);
  if (auto s = r.opt_int64(i, 17)) j.result_size = static_cast<std::uint64_t>(*s);
  j.created_at = from_ms(r.int64(i, 18));
  if (auto t = r.opt_int64(i, 19)) j.started_at = from_ms(*t);
  if (auto t = r.opt_int64(i, 20)) j.finished_at = from_ms(*t);
  return j;
}

}  // namespace wq::postgres
