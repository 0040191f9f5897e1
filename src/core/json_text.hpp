// JSON text helpers: the canonical form used for dedup keys and spec hashes, and hex SHA-256.
// Pure functions; thread-safe.
#pragma once

#include <boost/json/value.hpp>

#include <string>
#include <string_view>

namespace wq {

// Serialises `v` as compact JSON with numbers as people write them: 0.25, 1e-07, 3 (Boost.JSON
// 1.81 writes doubles as 2.5E-1). NaN and infinities, which JSON cannot express, become null.
std::string json_text(const boost::json::value& v);
void append_json_text(const boost::json::value& v, std::string& out);
// The same for an object, without making a json::value of it (a copy).
void append_json_text(const boost::json::object& o, std::string& out);
// Appends `s` as a JSON string, quoted and escaped: the same bytes as a json::value holding it.
void append_json_string(std::string_view s, std::string& out);

// Serialises with object keys sorted (by byte order) at every depth and no whitespace, so two
// equal JSON values always give the same text.
std::string canonical_json(const boost::json::value& v);
std::string canonical_json(const boost::json::object& o);

// Lowercase hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);

}  // namespace wq
