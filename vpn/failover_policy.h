#pragma once
// decide: the pure part of failover. UplinkHealth turns probe and link events of one
// uplink into "usable now" and "stable for the hold-down"; FailoverPolicy turns the two
// uplinks' health and the operator's preference into the active path. Neither touches a
// socket or a clock: every call takes `now`, so unit tests replay exact event sequences.
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>

namespace outpost::vpn {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Millis = std::chrono::milliseconds;

enum class Path { primary, backup };
enum class Preference { automatic, primary, backup };
const char* to_string(Path p);
const char* to_string(Preference p);
std::optional<Preference> parse_preference(const std::string& text);

struct HealthSettings {
  Millis interval{50};
  Millis timeout{150};          // a probe unanswered this long is counted lost
  unsigned loss_threshold = 3;  // BFD-like: down when no echo for loss_threshold x interval
  Millis holddown{10'000};      // up this long, with loss under max_loss, before failback
  double max_loss = 0.01;       // the vendors' 1 % loss limit, over the hold-down window
};

// Probe statistics, as `show uplinks` and the metrics report them.
struct ProbeStats {
  uint64_t sent = 0;
  uint64_t received = 0;
  uint64_t lost = 0;       // unanswered after timeout
  uint64_t late = 0;       // answered after timeout (also counted lost)
  uint64_t duplicates = 0;
  uint64_t link_downs = 0;
  uint64_t detections = 0;  // times the probes declared the uplink down
  double rtt_ms = 0;        // last
  double rtt_avg_ms = 0;    // EWMA 1/8
  double rtt_min_ms = 0;
  double rtt_max_ms = 0;
  double jitter_ms = 0;     // RFC 3550 estimator over consecutive RTTs
  double recent_loss = 0;   // lost / resolved over the last kLossWindow probes
};

class UplinkHealth {
 public:
  static constexpr size_t kLossWindow = 200;

  explicit UplinkHealth(HealthSettings settings = {}) : s_(settings) {}

  void probe_sent(uint64_t seq, TimePoint now);
  // An echo for `seq`; false if unknown or a duplicate (counted, otherwise ignored).
  bool reply(uint64_t seq, TimePoint now);
  // Carrier/admin state from RTNLGRP_LINK: down takes effect at once.
  void link(bool up, TimePoint now);
  // Expires probes older than the timeout and applies the detection rule. Call before
  // each decision.
  void tick(TimePoint now);

  bool up() const { return up_; }
  // Up, for at least the hold-down, with loss under max_loss over that window.
  bool stable(TimePoint now) const;
  bool link_up() const { return link_up_; }
  const std::string& reason() const { return reason_; }  // why it is down ("" when up)
  std::optional<TimePoint> last_reply() const { return last_reply_; }
  // When the detection rule fires if no echo comes first (nullopt when down): the owner
  // of the clock calls tick() then, not only at the next probe.
  std::optional<TimePoint> detection_deadline() const {
    if (!up_ || !last_reply_) return std::nullopt;
    return *last_reply_ + s_.interval * s_.loss_threshold;
  }
  std::optional<TimePoint> up_since() const { return up_ ? std::optional(up_since_) : std::nullopt; }
  const ProbeStats& stats() const { return stats_; }
  const HealthSettings& settings() const { return s_; }
  void set_settings(const HealthSettings& s) { s_ = s; }

 private:
  void go_down(TimePoint now, std::string why);
  void record(TimePoint sent, bool lost);

  HealthSettings s_;
  bool link_up_ = true;
  bool up_ = false;
  std::string reason_ = "no echo yet";
  TimePoint up_since_{};
  std::optional<TimePoint> last_reply_;
  unsigned sent_since_reply_ = 0;
  std::map<uint64_t, TimePoint> outstanding_;  // seq -> sent
  std::map<uint64_t, TimePoint> expired_;      // lost, still accepted as late (bounded)
  std::deque<std::pair<TimePoint, bool>> results_;  // (sent, lost) over the last kLossWindow
  std::optional<double> last_rtt_;
  ProbeStats stats_;
};

struct Decision {
  Path active = Path::primary;
  bool changed = false;
  std::string reason;
};

class FailoverPolicy {
 public:
  explicit FailoverPolicy(bool has_backup) : has_backup_(has_backup) {}

  // The path traffic should take now. Auto: leave the primary as soon as it is down and
  // the backup is up; come back only once the primary is stable (hold-down), or at once
  // if the backup is down and the primary up. Forced preferences win over health.
  Decision decide(const UplinkHealth& primary, const UplinkHealth* backup, Preference pref, TimePoint now);
  Path active() const { return active_; }
  void set_has_backup(bool b) { has_backup_ = b; }

 private:
  bool has_backup_;
  Path active_ = Path::primary;
};

}  // namespace outpost::vpn
