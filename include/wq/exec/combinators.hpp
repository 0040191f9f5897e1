// Functions building futures from values and from other futures — more-executors' f_*
// helpers. Cancelling a future built from inputs cancels those inputs (chained cancel).
//
// Threading: all are thread-safe; the functions given to them run on the thread that completes
// the relevant input, without locks. f_timeout's cancels run on one process-wide timer thread
// ("wq-f-timeout", joined at exit).
#pragma once

#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "wq/exec/future.hpp"
#include "wq/exec/map_state.hpp"
#include "wq/exec/timeout_executor.hpp"

namespace wq::exec {

// A future already holding `value`.
template <class T>
Future<std::decay_t<T>> f_return(T&& value) {
  auto state = std::make_shared<detail::State<std::decay_t<T>>>();
  state->set_value(std::forward<T>(value));
  return Future<std::decay_t<T>>(std::move(state));
}
inline Future<void> f_return() {
  auto state = std::make_shared<detail::State<void>>();
  state->set_value();
  return Future<void>(std::move(state));
}

// A future already failed with `error`.
template <class T = void>
Future<T> f_return_error(std::exception_ptr error) {
  auto state = std::make_shared<detail::State<T>>();
  state->set_exception(std::move(error));
  return Future<T>(std::move(state));
}
template <class T = void, class E>
  requires(!std::is_same_v<std::decay_t<E>, std::exception_ptr>)
Future<T> f_return_error(E&& error) {
  return f_return_error<T>(std::make_exception_ptr(std::forward<E>(error)));
}

// A future already cancelled.
template <class T = void>
Future<T> f_return_cancelled() {
  auto state = std::make_shared<detail::State<T>>();
  state->set_cancelled();
  return Future<T>(std::move(state));
}

// Future<T> → Future<fn(T)>; with error_fn, a failure becomes error_fn(exception_ptr).
template <class T, class Fn>
auto f_map(const Future<T>& future, Fn fn) {
  return detail::map_future(future, std::move(fn));
}
template <class T, class Fn, class ErrFn>
auto f_map(const Future<T>& future, Fn fn, ErrFn error_fn) {
  return detail::map_future(future, std::move(fn), std::move(error_fn));
}

// Future<T> → Future<U> where fn(T) returns Future<U>; error_fn(exception_ptr) likewise.
template <class T, class Fn>
auto f_flat_map(const Future<T>& future, Fn fn) {
  return detail::flat_map_future(future, std::move(fn));
}
template <class T, class Fn, class ErrFn>
auto f_flat_map(const Future<T>& future, Fn fn, ErrFn error_fn) {
  return detail::flat_map_future(future, std::move(fn), std::move(error_fn));
}

// The same outcome as `future`, but cancel() always fails (and does not reach `future`).
template <class T>
Future<T> f_nocancel(const Future<T>& future) {
  return detail::map_future(future, detail::Identity{}, detail::NoErrorFn{}, false);
}

namespace detail {

// The timer behind f_timeout.
TimerThread& process_timer();

// Cancels every input when `out` ends cancelled.
inline void chain_cancel(const std::shared_ptr<StateBase>& out,
                         std::vector<std::shared_ptr<StateBase>> inputs) {
  out->add_callback([inputs = std::move(inputs)](StateBase& s) {
    if (!s.cancelled()) return;
    for (const auto& in : inputs) in->cancel();
  });
}

template <class... Ts>
class ZipJoin {
 public:
  using Out = std::tuple<Ts...>;

  explicit ZipJoin(std::shared_ptr<State<Out>> out) : out_(std::move(out)) {}

  template <std::size_t I, class T>
  void arrive(const State<T>& in) {
    switch (in.status()) {
      case Status::finished: {
        std::unique_lock lock(mu_);
        if (settled_) return;
        std::get<I>(values_).emplace(in.value());
        if (--remaining_ > 0) return;
        settled_ = true;
        lock.unlock();
        resolve_by_calling(*out_, [this] {
          return std::apply([](auto&... v) { return Out(std::move(*v)...); }, values_);
        });
        return;
      }
      case Status::failed:
        if (settle()) out_->set_exception(in.error());
        return;
      default:
        if (settle()) out_->set_cancelled();
        return;
    }
  }

 private:
  bool settle() {
    std::lock_guard lock(mu_);
    return !std::exchange(settled_, true);
  }

  std::shared_ptr<State<Out>> out_;
  std::mutex mu_;
  std::tuple<std::optional<Ts>...> values_;  // guarded by mu_ until settled_
  std::size_t remaining_ = sizeof...(Ts);    // guarded by mu_
  bool settled_ = false;                     // guarded by mu_
};

template <class T>
class SequenceJoin {
 public:
  SequenceJoin(std::shared_ptr<State<std::vector<T>>> out, std::size_t n)
      : out_(std::move(out)), values_(n), remaining_(n) {}

  void arrive(std::size_t index, const State<T>& in) {
    switch (in.status()) {
      case Status::finished: {
        std::unique_lock lock(mu_);
        if (settled_) return;
        values_[index].emplace(in.value());
        if (--remaining_ > 0) return;
        settled_ = true;
        lock.unlock();
        resolve_by_calling(*out_, [this] {
          std::vector<T> out;
          out.reserve(values_.size());
          for (auto& v : values_) out.push_back(std::move(*v));
          return out;
        });
        return;
      }
      case Status::failed:
        if (settle()) out_->set_exception(in.error());
        return;
      default:
        if (settle()) out_->set_cancelled();
        return;
    }
  }

 private:
  bool settle() {
    std::lock_guard lock(mu_);
    return !std::exchange(settled_, true);
  }

  std::shared_ptr<State<std::vector<T>>> out_;
  std::mutex mu_;
  std::vector<std::optional<T>> values_;  // guarded by mu_ until settled_
  std::size_t remaining_;                  // guarded by mu_
  bool settled_ = false;                   // guarded by mu_
};

// f_or (kOr) and f_and over futures of one type; values are tested with static_cast<bool>.
template <class T, bool kOr>
class BoolJoin {
 public:
  BoolJoin(std::shared_ptr<State<T>> out, std::vector<std::shared_ptr<State<T>>> inputs)
      : out_(std::move(out)), inputs_(std::move(inputs)), remaining_(inputs_.size()) {}

  void arrive(const State<T>& in) {
    {
      std::lock_guard lock(mu_);
      if (settled_) return;
      const bool last = --remaining_ == 0;
      const bool ok = in.status() == Status::finished;
      const bool decides = kOr ? (last || (ok && static_cast<bool>(in.value())))
                               : (last || !ok || !static_cast<bool>(in.value()));
      if (!decides) return;
      settled_ = true;
    }
    resolve_from<T>(*out_, in);
    for (const auto& input : inputs_) input->cancel();
    inputs_.clear();
  }

 private:
  std::shared_ptr<State<T>> out_;
  std::vector<std::shared_ptr<State<T>>> inputs_;  // read-only until settled_, then owner's
  std::mutex mu_;
  std::size_t remaining_;  // guarded by mu_
  bool settled_ = false;   // guarded by mu_
};

template <class T, bool kOr>
Future<T> bool_join(std::vector<Future<T>> futures) {
  if (futures.size() == 1) return futures.front();
  auto out = std::make_shared<State<T>>();
  std::vector<std::shared_ptr<State<T>>> states;
  std::vector<std::shared_ptr<StateBase>> bases;
  for (const auto& f : futures) {
    states.push_back(f.state());
    bases.push_back(f.state());
  }
  chain_cancel(out, std::move(bases));
  auto join = std::make_shared<BoolJoin<T, kOr>>(out, states);
  for (const auto& s : states) {
    s->add_callback([join](StateBase& in) { join->arrive(static_cast<State<T>&>(in)); });
  }
  return Future<T>(std::move(out));
}

}  // namespace detail

// Future<A>, Future<B>, … → Future<tuple<A, B, …>>. Fails or is cancelled as soon as any input
// fails or is cancelled.
template <class... Ts>
Future<std::tuple<Ts...>> f_zip(const Future<Ts>&... futures) {
  static_assert((!std::is_void_v<Ts> && ...), "f_zip needs futures with values");
  using Join = detail::ZipJoin<Ts...>;
  auto out = std::make_shared<detail::State<std::tuple<Ts...>>>();
  if constexpr (sizeof...(Ts) == 0) {
    out->set_value();
  } else {
    detail::chain_cancel(out, {futures.state()...});
    auto join = std::make_shared<Join>(out);
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (futures.state()->add_callback([join](detail::StateBase& in) {
        join->template arrive<I>(static_cast<const detail::State<Ts>&>(in));
      }),
       ...);
    }(std::index_sequence_for<Ts...>{});
  }
  return Future<std::tuple<Ts...>>(std::move(out));
}

// vector<Future<T>> → Future<vector<T>>, in input order.
template <class T>
Future<std::vector<T>> f_sequence(const std::vector<Future<T>>& futures) {
  auto out = std::make_shared<detail::State<std::vector<T>>>();
  if (futures.empty()) {
    out->set_value();
    return Future<std::vector<T>>(std::move(out));
  }
  std::vector<std::shared_ptr<detail::StateBase>> inputs;
  inputs.reserve(futures.size());
  for (const auto& f : futures) inputs.push_back(f.state());
  detail::chain_cancel(out, std::move(inputs));
  auto join = std::make_shared<detail::SequenceJoin<T>>(out, futures.size());
  for (std::size_t i = 0; i < futures.size(); ++i) {
    futures[i].state()->add_callback([join, i](detail::StateBase& in) {
      join->arrive(i, static_cast<const detail::State<T>&>(in));
    });
  }
  return Future<std::vector<T>>(std::move(out));
}

// fn(x) for each x (fn returns a Future<U>) → Future<vector<U>>. A throwing fn fails the result.
template <class Fn, class Range>
auto f_traverse(Fn fn, const Range& xs) {
  using Next = std::invoke_result_t<Fn&, decltype(*std::begin(xs))>;
  static_assert(IsFuture<Next>::value, "f_traverse's function must return a Future");
  using U = typename Next::value_type;
  std::vector<Future<U>> futures;
  try {
    for (const auto& x : xs) futures.push_back(fn(x));
  } catch (...) {
    return f_return_error<std::vector<U>>(std::current_exception());
  }
  return f_sequence(futures);
}

// The earliest true value; otherwise the last outcome (false value or exception). Remaining
// inputs are cancelled once decided.
template <class T, class... More>
Future<T> f_or(const Future<T>& first, const More&... more) {
  return detail::bool_join<T, true>({first, more...});
}
// The earliest false value or exception; otherwise the last (true) value. Remaining inputs
// are cancelled once decided.
template <class T, class... More>
Future<T> f_and(const Future<T>& first, const More&... more) {
  return detail::bool_join<T, false>({first, more...});
}

// `future`, which gets one cancel() attempt if not done within `timeout`.
template <class T>
Future<T> f_timeout(const Future<T>& future, Seconds timeout) {
  return detail::with_deadline(
      detail::process_timer(), future,
      detail::deadline_after(std::chrono::duration_cast<std::chrono::nanoseconds>(timeout)));
}

}  // namespace wq::exec
