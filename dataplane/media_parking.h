#pragma once
// Things put aside for re-use, oldest first: the media relay parks a finished stream's bound
// sockets here (media_relay.cc) so the next stream needs no socket(2), bind(2), epoll_ctl(2)
// or close(2). An item comes back out only after a quarantine, so that late packets of the
// old call have stopped before a new call listens on its ports, and it is pushed out when
// it has waited too long or when too many are parked (the caller then closes it).
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <utility>
#include <vector>

namespace outpost::media {

struct ParkingLimits {
  size_t max_parked = 1024;  // 0: nothing is parked (park() hands every item straight back)
  int64_t quarantine_ns = 2'000'000'000;
  int64_t max_age_ns = 60'000'000'000;
};

template <class T>
class Parking {
 public:
  explicit Parking(ParkingLimits limits = {}) : limits_(limits) {}

  // Parks `item` at now_ns. What has to go instead (the oldest, when over max_parked; the
  // item itself when max_parked is 0) is handed back for the caller to close.
  std::optional<T> park(T item, int64_t now_ns) {
    if (limits_.max_parked == 0) return std::optional<T>(std::move(item));
    parked_.emplace_back(now_ns, std::move(item));
    return over_limit();
  }

  // The oldest item while more than max_parked are parked (after set_max_parked(); call
  // until nullopt).
  std::optional<T> over_limit() {
    if (parked_.size() <= limits_.max_parked) return std::nullopt;
    return pop_front();
  }

  void set_max_parked(size_t n) { limits_.max_parked = n; }

  // The item parked longest, if it has rested at least the quarantine.
  std::optional<T> take(int64_t now_ns) {
    if (parked_.empty() || now_ns - parked_.front().first < limits_.quarantine_ns) return std::nullopt;
    return pop_front();
  }

  // The item parked longest, quarantine or not: for when nothing else is left (a call beats
  // the quarantine).
  std::optional<T> take_any() {
    if (parked_.empty()) return std::nullopt;
    return pop_front();
  }

  // The item parked longest, if it has waited longer than max_age (call until nullopt).
  std::optional<T> expire(int64_t now_ns) {
    if (parked_.empty() || now_ns - parked_.front().first <= limits_.max_age_ns) return std::nullopt;
    return pop_front();
  }

  // Everything parked, oldest first; the parking is empty afterwards.
  std::vector<T> clear() {
    std::vector<T> out;
    out.reserve(parked_.size());
    for (auto& [since, item] : parked_) out.push_back(std::move(item));
    parked_.clear();
    return out;
  }

  size_t size() const { return parked_.size(); }
  const ParkingLimits& limits() const { return limits_; }

 private:
  std::optional<T> pop_front() {
    std::optional<T> out(std::move(parked_.front().second));
    parked_.pop_front();
    return out;
  }

  ParkingLimits limits_;
  std::deque<std::pair<int64_t, T>> parked_;
};

}  // namespace outpost::media
