// States computed from another future's outcome: MapState (a function of the value, or of the
// error) and FlatMapState (a function returning another future, which is then followed). They
// implement Future::then, f_map, f_flat_map, MapExecutor, FlatMapExecutor and TimeoutExecutor.
//
// Threading: the mapping functions run on the thread that completes the inner future, exactly
// once, without any lock held. cancel() and running() are forwarded to the current inner
// future. An inner future that ends cancelled — whoever cancelled it — resolves the outer one
// as cancelled (more-executors left it pending forever).
#pragma once

#include <functional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "wq/exec/future.hpp"

namespace wq::exec::detail {

// Marks "no error function": failures pass through unchanged.
struct NoErrorFn {};

struct Identity {
  template <class X>
  X operator()(const X& x) const {
    return x;
  }
  void operator()() const {}
};

template <class Fn, class In>
struct MapResultOf {
  using type = std::remove_cvref_t<std::invoke_result_t<Fn&, const In&>>;
};
template <class Fn>
struct MapResultOf<Fn, void> {
  using type = std::remove_cvref_t<std::invoke_result_t<Fn&>>;
};
// The value type of mapping a Future<In> through Fn.
template <class Fn, class In>
using MapResult = typename MapResultOf<Fn, In>::type;

template <class Fn, class In>
decltype(auto) invoke_with_value(Fn& fn, const State<In>& in) {
  if constexpr (std::is_void_v<In>) {
    return std::invoke(fn);
  } else {
    return std::invoke(fn, in.value());
  }
}

template <class Out, class In, class Fn, class ErrFn>
class MapState final : public State<Out> {
 public:
  // `cancellable` false makes cancel() always fail (f_nocancel).
  MapState(Fn fn, ErrFn error_fn, bool cancellable)
      : State<Out>(true), fn_(std::move(fn)), error_fn_(std::move(error_fn)),
        cancellable_(cancellable) {}

  // Follows `inner` and returns the mapped future.
  static Future<Out> attach(std::shared_ptr<MapState> self, std::shared_ptr<State<In>> inner) {
    inner->add_callback([self](StateBase& s) mutable {
      self->on_inner_done(static_cast<State<In>&>(s));
    });
    self->set_delegate(std::move(inner));
    return Future<Out>(std::move(self));
  }

 protected:
  bool cancel_delegate() override { return cancellable_ && StateBase::cancel_delegate(); }

 private:
  // Resolving drops the delegate (StateBase::finish), so it is not cleared here.
  void on_inner_done(State<In>& in) {
    switch (in.status()) {
      case Status::finished:
        resolve_by_calling(*this, [&]() -> decltype(auto) { return invoke_with_value(fn_, in); });
        return;
      case Status::failed:
        if constexpr (std::is_same_v<ErrFn, NoErrorFn>) {
          this->set_exception(in.error());
        } else {
          resolve_by_calling(*this, [&]() -> decltype(auto) { return error_fn_(in.error()); });
        }
        return;
      default:
        this->set_cancelled();
        return;
    }
  }

  Fn fn_;
  [[no_unique_address]] ErrFn error_fn_;
  const bool cancellable_;
};

template <class Out, class In, class Fn, class ErrFn>
class FlatMapState final : public State<Out> {
 public:
  FlatMapState(Fn fn, ErrFn error_fn)
      : State<Out>(true), fn_(std::move(fn)), error_fn_(std::move(error_fn)) {}

  static Future<Out> attach(std::shared_ptr<FlatMapState> self,
                            const std::shared_ptr<State<In>>& inner) {
    self->set_delegate(inner);
    inner->add_callback([self](StateBase& s) mutable {
      self->on_inner_done(self, static_cast<State<In>&>(s));
    });
    return Future<Out>(std::move(self));
  }

 private:
  void on_inner_done(const std::shared_ptr<FlatMapState>& self, State<In>& in) {
    this->take_delegate();
    Future<Out> next;
    try {
      switch (in.status()) {
        case Status::finished:
          next = invoke_with_value(fn_, in);
          break;
        case Status::failed:
          if constexpr (std::is_same_v<ErrFn, NoErrorFn>) {
            this->set_exception(in.error());
            return;
          } else {
            next = error_fn_(in.error());
            break;
          }
        default:
          this->set_cancelled();
          return;
      }
    } catch (...) {
      this->set_exception(std::current_exception());
      return;
    }
    if (!next.valid()) {
      this->set_exception(std::make_exception_ptr(
          std::invalid_argument("flat_map function returned an invalid future")));
      return;
    }
    this->set_delegate(next.state());
    next.state()->add_callback(
        [self](StateBase& s) { resolve_from<Out>(*self, static_cast<State<Out>&>(s)); });
  }

  Fn fn_;
  [[no_unique_address]] ErrFn error_fn_;
};

template <class T, class Fn, class ErrFn = NoErrorFn>
auto map_future(Future<T> in, Fn fn, ErrFn error_fn = {}, bool cancellable = true) {
  using Out = MapResult<Fn, T>;
  using S = MapState<Out, T, Fn, ErrFn>;
  return S::attach(std::make_shared<S>(std::move(fn), std::move(error_fn), cancellable),
                   std::move(in).release_state());
}

template <class T, class Fn, class ErrFn = NoErrorFn>
auto flat_map_future(const Future<T>& in, Fn fn, ErrFn error_fn = {}) {
  using Next = MapResult<Fn, T>;
  static_assert(IsFuture<Next>::value, "a flat_map function must return a Future");
  using Out = typename Next::value_type;
  using S = FlatMapState<Out, T, Fn, ErrFn>;
  return S::attach(std::make_shared<S>(std::move(fn), std::move(error_fn)), in.state());
}

}  // namespace wq::exec::detail

namespace wq::exec {

template <class T>
template <class Fn>
auto Future<T>::then(Fn fn) const {
  return detail::map_future(*this, std::move(fn));
}

}  // namespace wq::exec
