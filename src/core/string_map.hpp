// StringMap<T>: an unordered_map keyed by std::string whose find() takes a std::string_view
// without building a string.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace wq {

struct TransparentStringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

template <class T>
using StringMap = std::unordered_map<std::string, T, TransparentStringHash, std::equal_to<>>;

}  // namespace wq
