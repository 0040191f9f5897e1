#include "queue/progress_hub.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace wq {
namespace {

Snapshot snap(std::uint64_t seq, JobState state = JobState::running, std::int64_t ahead = 0) {
  Snapshot s;
  s.id = "j";
  s.seq = seq;
  s.state = state;
  s.n_ahead_in_queue = ahead;
  return s;
}

}  // namespace

TEST(ProgressHub, DeliversOnlyNewerSnapshotsAndStopsAfterTerminal) {
  ProgressHub hub;
  std::vector<std::uint64_t> got;
  auto sub = hub.subscribe("j", 2, [&](const Snapshot& s) { got.push_back(s.seq); });
  hub.publish(snap(1));
  hub.publish(snap(3));
  hub.publish(snap(3));
  hub.publish(snap(2));
  hub.publish(snap(5, JobState::succeeded));
  hub.publish(snap(6));
  EXPECT_EQ(got, (std::vector<std::uint64_t>{3, 5}));
}

TEST(ProgressHub, QueuePositionRefreshesWithTheSameSeqReachLiveWatchers) {
  ProgressHub hub;
  std::vector<std::int64_t> ahead;
  auto sub = hub.subscribe("j", 0, [&](const Snapshot& s) { ahead.push_back(s.n_ahead_in_queue); });
  hub.publish(snap(1, JobState::queued, 4));
  hub.publish(snap(1, JobState::queued, 3));
  hub.publish(snap(1, JobState::queued, 3));
  hub.publish(snap(1, JobState::queued, 2));
  EXPECT_EQ(ahead, (std::vector<std::int64_t>{4, 3, 2}));
}

TEST(ProgressHub, DroppedSubscriptionGetsNothingMore) {
  ProgressHub hub;
  int calls = 0;
  auto sub = hub.subscribe("j", 0, [&](const Snapshot&) { ++calls; });
  hub.publish(snap(1));
  sub.reset();
  hub.publish(snap(2));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(hub.watcher_count(), 0u);
  EXPECT_TRUE(hub.watched_ids().empty());
}

// Watchers leave from the front, the middle and the end of a job's list (each leaving one's
// place goes to the last): exactly those still subscribed get the next publish, once.
TEST(ProgressHub, WatchersLeavingInAnyOrderLeaveTheOthersSubscribed) {
  ProgressHub hub;
  constexpr int kWatchers = 50;
  std::vector<int> calls(kWatchers, 0);
  std::vector<ProgressHub::Subscription> subs;
  for (int i = 0; i < kWatchers; ++i)
    subs.push_back(hub.subscribe("j", 0, [&calls, i](const Snapshot&) { ++calls[i]; }));
  auto other = hub.subscribe("k", 0, [](const Snapshot&) {});
  std::vector<bool> left(kWatchers, false);
  for (int i : {0, 49, 25, 1, 48, 30, 31, 2}) {
    subs[i].reset();
    left[i] = true;
  }
  hub.publish(snap(1));
  for (int i = 0; i < kWatchers; ++i) EXPECT_EQ(calls[i], left[i] ? 0 : 1) << "watcher " << i;
  EXPECT_EQ(hub.watcher_count(), kWatchers - 8 + 1u);
  for (auto& s : subs) s.reset();
  EXPECT_EQ(hub.watcher_count(), 1u);
  EXPECT_EQ(hub.watched_ids(), std::vector<std::string>{"k"});
}

TEST(ProgressHub, SubscriptionMayBeDroppedFromItsOwnCallback) {
  ProgressHub hub;
  ProgressHub::Subscription sub;
  int calls = 0;
  sub = hub.subscribe("j", 0, [&](const Snapshot&) {
    ++calls;
    sub.reset();
  });
  hub.publish(snap(1));
  hub.publish(snap(2));
  EXPECT_EQ(calls, 1);
}

TEST(ProgressHub, ThrowingCallbackDoesNotAffectOtherWatchers) {
  ProgressHub hub;
  int calls = 0;
  auto bad = hub.subscribe("j", 0, [&](const Snapshot&) { throw std::runtime_error("broken"); });
  auto good = hub.subscribe("j", 0, [&](const Snapshot&) { ++calls; });
  hub.publish(snap(1));
  hub.publish(snap(2));
  EXPECT_EQ(calls, 2);
}

TEST(ProgressHub, ManyThreadsPublishingAndSubscribingDeliverInSeqOrderAndEndWithTerminal) {
  ProgressHub hub;
  constexpr int kWatchers = 64;
  constexpr std::uint64_t kLast = 2000;
  std::vector<ProgressHub::Subscription> subs;
  std::vector<std::vector<std::uint64_t>> got(kWatchers);
  std::atomic<int> terminals{0};
  std::vector<std::thread> subscribers;
  std::mutex subs_mutex;
  std::atomic<std::uint64_t> next{1};
  std::vector<std::thread> publishers;
  for (int p = 0; p < 4; ++p) {
    publishers.emplace_back([&] {
      for (std::uint64_t s = next++; s < kLast; s = next++) hub.publish(snap(s));
    });
  }
  for (int w = 0; w < kWatchers; ++w) {
    subscribers.emplace_back([&, w] {
      auto sub = hub.subscribe("j", 0, [&, w](const Snapshot& s) {
        got[w].push_back(s.seq);
        if (s.terminal()) ++terminals;
      });
      std::lock_guard lock(subs_mutex);
      subs.push_back(std::move(sub));
    });
  }
  for (auto& t : subscribers) t.join();
  for (auto& t : publishers) t.join();
  hub.publish(snap(kLast, JobState::succeeded));
  EXPECT_EQ(terminals.load(), kWatchers);
  for (const auto& seqs : got) {
    EXPECT_TRUE(std::is_sorted(seqs.begin(), seqs.end()));
    ASSERT_FALSE(seqs.empty());
    EXPECT_EQ(seqs.back(), kLast);
  }
}

}  // namespace wq
