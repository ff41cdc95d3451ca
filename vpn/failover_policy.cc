#include "vpn/failover_policy.h"

#include <algorithm>
#include <cmath>

namespace outpost::vpn {

const char* to_string(Path p) { return p == Path::primary ? "primary" : "backup"; }

const char* to_string(Preference p) {
  switch (p) {
    case Preference::primary: return "primary";
    case Preference::backup: return "backup";
    default: return "auto";
  }
}

std::optional<Preference> parse_preference(const std::string& text) {
  if (text == "auto") return Preference::automatic;
  if (text == "primary") return Preference::primary;
  if (text == "backup") return Preference::backup;
  return std::nullopt;
}

namespace {
double ms_between(TimePoint a, TimePoint b) { return std::chrono::duration<double, std::milli>(b - a).count(); }
}  // namespace

void UplinkHealth::probe_sent(uint64_t seq, TimePoint now) {
  outstanding_[seq] = now;
  ++stats_.sent;
  ++sent_since_reply_;
}

bool UplinkHealth::reply(uint64_t seq, TimePoint now) {
  TimePoint sent;
  if (auto it = outstanding_.find(seq); it != outstanding_.end()) {
    sent = it->second;
    outstanding_.erase(it);
    record(sent, false);
  } else if (auto ex = expired_.find(seq); ex != expired_.end()) {
    sent = ex->second;  // already counted lost; still proves the path carries packets
    expired_.erase(ex);
    ++stats_.late;
  } else {
    ++stats_.duplicates;
    return false;
  }
  ++stats_.received;
  double rtt = ms_between(sent, now);
  stats_.rtt_ms = rtt;
  if (!last_rtt_) {
    stats_.rtt_avg_ms = stats_.rtt_min_ms = stats_.rtt_max_ms = rtt;
  } else {
    stats_.rtt_avg_ms += (rtt - stats_.rtt_avg_ms) / 8;
    stats_.rtt_min_ms = std::min(stats_.rtt_min_ms, rtt);
    stats_.rtt_max_ms = std::max(stats_.rtt_max_ms, rtt);
    stats_.jitter_ms += (std::fabs(rtt - *last_rtt_) - stats_.jitter_ms) / 16;
  }
  last_rtt_ = rtt;
  last_reply_ = now;
  sent_since_reply_ = 0;
  if (!up_ && link_up_) {
    up_ = true;
    up_since_ = now;
    reason_.clear();
  }
  return true;
}

void UplinkHealth::link(bool up, TimePoint now) {
  if (up == link_up_) return;
  link_up_ = up;
  if (!up) {
    if (stats_.received > 0) ++stats_.link_downs;  // not the device's creation at start
    go_down(now, "link down");
  } else if (!up_) {
    reason_ = "link up, no echo yet";
  }
}

void UplinkHealth::tick(TimePoint now) {
  for (auto it = outstanding_.begin(); it != outstanding_.end();) {
    if (now - it->second < s_.timeout) break;  // seqs grow with time: the rest are younger
    ++stats_.lost;
    record(it->second, true);
    expired_.insert(*it);
    it = outstanding_.erase(it);
  }
  while (expired_.size() > 64) expired_.erase(expired_.begin());
  // BFD's rule: no echo within the detection time (threshold x interval) while probes
  // kept going out. Detection does not wait for each probe's timeout.
  if (up_ && sent_since_reply_ >= s_.loss_threshold && last_reply_ && now >= *detection_deadline()) {
    ++stats_.detections;
    go_down(now, std::to_string(sent_since_reply_) + " probes unanswered");
  }
}

bool UplinkHealth::stable(TimePoint now) const {
  if (!up_ || now - up_since_ < s_.holddown) return false;
  size_t total = 0, lost = 0;
  for (auto it = results_.rbegin(); it != results_.rend() && now - it->first <= s_.holddown; ++it) {
    ++total;
    lost += it->second ? 1 : 0;
  }
  return total == 0 || double(lost) <= s_.max_loss * double(total);
}

void UplinkHealth::go_down(TimePoint, std::string why) {
  up_ = false;
  reason_ = std::move(why);
}

void UplinkHealth::record(TimePoint sent, bool lost) {
  results_.emplace_back(sent, lost);
  // Keep enough for the hold-down window and for recent_loss, whichever is longer.
  while (results_.size() > kLossWindow && results_.back().first - results_.front().first > s_.holddown)
    results_.pop_front();
  while (results_.size() > 100'000) results_.pop_front();
  size_t total = 0, n_lost = 0;
  for (auto it = results_.rbegin(); it != results_.rend() && total < kLossWindow; ++it, ++total)
    n_lost += it->second ? 1 : 0;
  stats_.recent_loss = total ? double(n_lost) / double(total) : 0.0;
}

Decision FailoverPolicy::decide(const UplinkHealth& primary, const UplinkHealth* backup, Preference pref,
                                TimePoint now) {
  Decision d{active_, false, {}};
  bool backup_ok = has_backup_ && backup != nullptr;
  if (!backup_ok || pref == Preference::primary) {
    d.active = Path::primary;
    d.reason = backup_ok ? "forced: uplink prefer primary" : "no backup uplink";
  } else if (pref == Preference::backup) {
    d.active = Path::backup;
    d.reason = "forced: uplink prefer backup";
  } else if (active_ == Path::primary) {
    if (!primary.up() && backup->up()) {
      d.active = Path::backup;
      d.reason = "primary down (" + primary.reason() + ")";
    }
  } else {
    if (primary.stable(now)) {
      d.active = Path::primary;
      d.reason = "primary healthy for the hold-down";
    } else if (!backup->up() && primary.up()) {
      d.active = Path::primary;
      d.reason = "backup down (" + backup->reason() + "), primary up";
    }
  }
  d.changed = d.active != active_;
  active_ = d.active;
  return d;
}

}  // namespace outpost::vpn
