#include "http/result_download.hpp"

#include <fmt/format.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/file_body.hpp>
#include <boost/beast/http/write.hpp>

#include "core/log.hpp"
#include "http/blocking_call.hpp"
#include "http/event_stream.hpp"

namespace wq::http {

namespace asio = boost::asio;

asio::awaitable<Written> download_result(RequestContext& ctx, const Request& req, Stream& stream) {
  auto path = co_await on_pool(
      ctx.env.blocking, [&ctx] { return ctx.env.queue.result_path(ctx.args[0], ctx.tenant); });
  if (!path) co_return co_await send(stream, problem(req, path.error()));
  bhttp::response<bhttp::file_body> res{Status::ok, req.version()};
  boost::beast::error_code ec;
  res.body().open(path->c_str(), boost::beast::file_mode::scan, ec);
  if (ec) {
    // The sweeper may remove an expired result between the lookup and the open.
    log::warn("result file could not be opened", {{"job", ctx.args[0]}, {"error", ec.message()}});
    co_return co_await send(
        stream,
        problem(req, Status::not_found,
                fmt::format("job {} has no result file any more: it expired", ctx.args[0])));
  }
  res.set(bhttp::field::server, "wqd");
  res.set(bhttp::field::content_type, "application/octet-stream");
  res.set(bhttp::field::content_disposition,
          fmt::format("attachment; filename=\"{}\"", ctx.args[0]));
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  auto [write_ec, n] =
      co_await bhttp::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
  co_return Written{200, !write_ec && req.keep_alive()};
}

}  // namespace wq::http
