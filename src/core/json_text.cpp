#include "core/json_text.hpp"

#include <boost/json/serialize.hpp>
#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <vector>

namespace wq {
namespace {

// Runs of characters that need no escape (nearly all of them) are appended in one piece:
// appending char by char cost ~25 instructions per character (callgrind, bench/run HTTP-GET).
void append_string(std::string_view s, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  std::size_t plain = 0;  // start of the pending run of unescaped characters
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20) continue;
    out.append(s.data() + plain, i - plain);
    plain = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:  // the other control characters
        out += "\\u00";
        out += kHex[(c >> 4) & 0xf];
        out += kHex[c & 0xf];
    }
  }
  out.append(s.data() + plain, s.size() - plain);  // UTF-8 passes through, as Boost.JSON writes it
  out += '"';
}

template <class Number>
void append_number(Number n, std::string& out) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, ec == std::errc() ? end : buf);
}

// The two forms differ only in object key order and in how a double is written.
enum class Form { plain, canonical };

void append_value(const boost::json::value& v, Form form, std::string& out);

void append_object(const boost::json::object& obj, Form form, std::string& out) {
  if (form == Form::plain) {  // in its own order: no sorted copy (an allocation) to make
    out += '{';
    bool first = true;
    for (const auto& kv : obj) {
      if (!first) out += ',';
      first = false;
      append_string(kv.key(), out);
      out += ':';
      append_value(kv.value(), form, out);
    }
    out += '}';
    return;
  }
  std::vector<const boost::json::key_value_pair*> items;
  items.reserve(obj.size());
  for (const auto& kv : obj) items.push_back(&kv);
  std::sort(items.begin(), items.end(), [](auto* x, auto* y) { return x->key() < y->key(); });
  out += '{';
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    append_string(items[i]->key(), out);
    out += ':';
    append_value(items[i]->value(), form, out);
  }
  out += '}';
}

void append_value(const boost::json::value& v, Form form, std::string& out) {
  switch (v.kind()) {
    case boost::json::kind::object:
      append_object(v.get_object(), form, out);
      return;
    case boost::json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& e : v.get_array()) {
        if (!first) out += ',';
        first = false;
        append_value(e, form, out);
      }
      out += ']';
      return;
    }
    case boost::json::kind::string:
      append_string(v.get_string(), out);
      return;
    case boost::json::kind::int64:
      append_number(v.get_int64(), out);
      return;
    case boost::json::kind::uint64:
      append_number(v.get_uint64(), out);
      return;
    case boost::json::kind::double_: {
      const double d = v.get_double();
      if (form == Form::canonical) {
        out += boost::json::serialize(v);  // as keys were first derived: they must not change
      } else if (!std::isfinite(d)) {
        out += "null";
      } else {
        // The shortest text that reads back as the same double, and still reads as a double:
        // 1.0, not 1.
        const std::size_t start = out.size();
        append_number(d, out);
        if (out.find_first_of(".e", start) == std::string::npos) out += ".0";
      }
      return;
    }
    case boost::json::kind::bool_:
      out += v.get_bool() ? "true" : "false";
      return;
    case boost::json::kind::null:
      out += "null";
      return;
  }
}

}  // namespace

void append_json_string(std::string_view s, std::string& out) { append_string(s, out); }

void append_json_text(const boost::json::value& v, std::string& out) {
  append_value(v, Form::plain, out);
}

void append_json_text(const boost::json::object& o, std::string& out) {
  append_object(o, Form::plain, out);
}

std::string json_text(const boost::json::value& v) {
  std::string out;
  append_json_text(v, out);
  return out;
}

std::string canonical_json(const boost::json::value& v) {
  std::string out;
  append_value(v, Form::canonical, out);
  return out;
}

std::string canonical_json(const boost::json::object& o) {
  std::string out;
  append_object(o, Form::canonical, out);
  return out;
}

std::string sha256_hex(std::string_view data) {
  // Fetched once: EVP_sha256() makes OpenSSL 3 look the algorithm up (under a lock) per call.
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  thread_local std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                          &EVP_MD_CTX_free);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (sha256 == nullptr || !ctx || EVP_DigestInit_ex2(ctx.get(), sha256, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), digest, &len) != 1) {
    throw std::runtime_error("OpenSSL cannot compute SHA-256");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(len * 2, '0');
  for (unsigned i = 0; i < len; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 0xf];
  }
  return out;
}

}  // namespace wq
