#include "store/postgres/pg_store.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "wq/store.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <system_error>

namespace wq {

Result<std::unique_ptr<Store>> open_store(const Config& config) {
  const std::string url = config.store_url();
  if (url.starts_with("sqlite:")) {
    std::filesystem::path path = url.substr(7);
    if (path.empty()) {
      return make_error(Errc::config_invalid, "store: \"sqlite:\" needs a file path, e.g. \"sqlite:wq-data/wq.sqlite\"");
    }
    std::error_code ec;
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) {
      return make_error(Errc::store_failed, fmt::format("cannot create directory {}: {}",
                                                        path.parent_path().string(), ec.message()));
    }
    return sqlite::open_sqlite_store(path.string(), config.durability);
  }
  if (url.starts_with("postgresql://") || url.starts_with("postgres://")) {
    return postgres::open_pg_store(url, config.durability);
  }
  return make_error(Errc::config_invalid,
                    fmt::format("store: unsupported store URL '{}'; expected \"sqlite:PATH\" or \"postgresql://…\"",
                                url.substr(0, url.find(':'))));
}

}  // namespace wq
