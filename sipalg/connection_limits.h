#pragma once
// decide, LAN stream connections (TCP, TLS, WSS): what a device or a scanner may hold open.
// An accepted connection over `max_connections` in all, or over `max_per_source` from one
// IP address, is closed at once; an accepted TLS/WSS connection that has not finished its
// handshake (and WebSocket upgrade) within `handshake_timeout` is closed; a LAN connection
// with no byte either way for `idle_timeout` is closed. Connections outpost opens to the
// vendor are never limited here. The Transports own one ConnectionAdmission and one sweep
// timer that asks `expiry()` of every connection (sipalg/README.md "Connection hygiene").
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <map>

#include "common/net.h"

namespace outpost::sip {

struct ConnectionLimits {
  // Durations in milliseconds so that tests can use tiny ones; the config gives seconds.
  std::chrono::milliseconds handshake_timeout{10'000};
  std::chrono::milliseconds idle_timeout{600'000};
  size_t max_connections = 4096;
  size_t max_per_source = 32;

  // How often the Transports look for expired connections: a fifth of the shorter timeout
  // (a connection lives at most 20 % past its deadline), at most every 2 s.
  std::chrono::milliseconds sweep_interval() const {
    auto shorter = std::min(handshake_timeout, idle_timeout);
    return std::clamp(shorter / 5, std::chrono::milliseconds(10), std::chrono::milliseconds(2000));
  }
};

// Accepted LAN connections, counted in all and per source address.
class ConnectionAdmission {
 public:
  enum class Verdict { admitted, over_total, over_source };

  void configure(const ConnectionLimits& limits) { limits_ = limits; }
  // Counts the connection when it is admitted; release() it when it closes.
  Verdict admit(const IpAddress& source) {
    if (open_ >= limits_.max_connections) return Verdict::over_total;
    auto& n = per_source_[source];
    if (n >= limits_.max_per_source) {
      if (n == 0) per_source_.erase(source);
      return Verdict::over_source;
    }
    ++n, ++open_;
    return Verdict::admitted;
  }
  void release(const IpAddress& source) {
    auto it = per_source_.find(source);
    if (it == per_source_.end()) return;
    --open_;
    if (--it->second == 0) per_source_.erase(it);
  }
  size_t open() const { return open_; }
  size_t sources() const { return per_source_.size(); }
  size_t busiest_source() const {
    size_t most = 0;
    for (const auto& [a, n] : per_source_) most = std::max(most, n);
    return most;
  }
  const ConnectionLimits& limits() const { return limits_; }

 private:
  ConnectionLimits limits_;
  size_t open_ = 0;
  std::map<IpAddress, size_t> per_source_;
};

// Why a connection should be closed now, if it should. `accepted`: a LAN peer opened it
// (the handshake deadline applies); `lan`: its peer is on the LAN (the idle deadline
// applies); `established`: TLS handshake and WebSocket upgrade done (plain TCP: at once).
enum class Expiry { none, handshake_timeout, idle_timeout };
inline Expiry expiry(bool accepted, bool lan, bool established, std::chrono::steady_clock::time_point opened,
                     std::chrono::steady_clock::time_point last_activity, std::chrono::steady_clock::time_point now,
                     const ConnectionLimits& limits) {
  if (accepted && !established && now - opened >= limits.handshake_timeout) return Expiry::handshake_timeout;
  if (lan && established && now - last_activity >= limits.idle_timeout) return Expiry::idle_timeout;
  return Expiry::none;
}

}  // namespace outpost::sip
