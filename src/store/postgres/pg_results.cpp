#include "store/postgres/pg_results.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <libpq/libpq-fs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace wq::postgres {
namespace {

constexpr std::size_t kChunk = 256 * 1024;

Error failed(PgConn& c, std::string_view what) {
  std::string why = PQerrorMessage(c.handle());
  while (!why.empty() && why.back() == '\n') why.pop_back();
  return make_error(Errc::store_failed, fmt::format("PostgreSQL: {}: {}", what, why));
}

// Closes a file descriptor on every path out.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

Result<Oid> put_large_object(PgConn& c, const std::filesystem::path& file) {
  Fd in{::open(file.c_str(), O_RDONLY | O_CLOEXEC)};
  if (in.fd < 0) {
    return make_error(Errc::store_failed,
                      fmt::format("cannot read result {}: {}", file.string(), std::strerror(errno)));
  }
  if (auto r = c.exec("BEGIN"); !r) return r.error();
  auto abort = [&](Error e) -> Result<Oid> {
    (void)c.exec("ROLLBACK");
    return e;
  };
  const Oid oid = lo_creat(c.handle(), INV_READ | INV_WRITE);
  if (oid == InvalidOid) return abort(failed(c, "creating a large object"));
  const int lo = lo_open(c.handle(), oid, INV_WRITE);
  if (lo < 0) return abort(failed(c, "opening a large object"));
  std::vector<char> buf(kChunk);
  for (;;) {
    const ssize_t n = ::read(in.fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return abort(make_error(Errc::store_failed, fmt::format("cannot read result {}: {}",
                                                              file.string(), std::strerror(errno))));
    }
    if (n == 0) break;
    if (lo_write(c.handle(), lo, buf.data(), static_cast<std::size_t>(n)) != n) {
      return abort(failed(c, "writing a large object"));
    }
  }
  if (lo_close(c.handle(), lo) != 0) return abort(failed(c, "closing a large object"));
  if (auto r = c.exec("COMMIT"); !r) return r.error();
  return oid;
}

Result<void> get_large_object(PgConn& c, Oid oid, const std::filesystem::path& to) {
  std::error_code ec;
  std::filesystem::create_directories(to.parent_path(), ec);
  const auto tmp = to.string() + ".part";
  Fd out{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
  if (out.fd < 0) {
    return make_error(Errc::store_failed,
                      fmt::format("cannot write {}: {}", tmp, std::strerror(errno)));
  }
  if (auto r = c.exec("BEGIN"); !r) return r.error();
  auto abort = [&](Error e) -> Result<void> {
    (void)c.exec("ROLLBACK");
    ::unlink(tmp.c_str());
    return e;
  };
  const int lo = lo_open(c.handle(), oid, INV_READ);
  if (lo < 0) return abort(failed(c, "opening a large object"));
  std::vector<char> buf(kChunk);
  for (;;) {
    const int n = lo_read(c.handle(), lo, buf.data(), buf.size());
    if (n < 0) return abort(failed(c, "reading a large object"));
    if (n == 0) break;
    for (int done = 0; done < n;) {
      const ssize_t w = ::write(out.fd, buf.data() + done, static_cast<std::size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        return abort(make_error(Errc::store_failed,
                                fmt::format("cannot write {}: {}", tmp, std::strerror(errno))));
      }
      done += static_cast<int>(w);
    }
  }
  (void)lo_close(c.handle(), lo);
  if (auto r = c.exec("COMMIT"); !r) return abort(r.error());
  if (::rename(tmp.c_str(), to.c_str()) != 0) {
    return abort(make_error(Errc::store_failed, fmt::format("cannot rename {} to {}: {}", tmp,
                                                            to.string(), std::strerror(errno))));
  }
  return {};
}

}  // namespace wq::postgres
