#pragma once
// Every counter of the media relay, declared once: metrics outpost_media_*_total and
// `show media` use the same names. Drops are one labelled family,
// outpost_media_dropped_total{reason=...}.
#include <array>
#include <cstddef>

#include "common/metrics.h"

namespace outpost::media {

#define OUTPOST_MEDIA_STATS(X)                                                                 \
  X(packets_to_vendor, "datagrams relayed from the LAN leg out of the uplink leg")             \
  X(bytes_to_vendor, "UDP payload bytes relayed from the LAN leg out of the uplink leg")       \
  X(packets_to_lan, "datagrams relayed from the uplink leg out of the LAN leg")                \
  X(bytes_to_lan, "UDP payload bytes relayed from the uplink leg out of the LAN leg")          \
  X(offers, "SDP media descriptions handed to the relay by the SIP proxy")                     \
  X(offers_failed, "offers refused (no free ports, no uplink address, bind failure)")          \
  X(streams_opened, "streams opened for an offer, on new or parked sockets (streams_reused)")  \
  X(streams_reused, "streams opened on parked sockets of a finished stream (no new sockets)")   \
  X(streams_released, "streams closed because their call ended")                               \
  X(streams_timed_out, "streams closed after media.timeout_s without a packet either way")     \
  X(latched, "legs that latched onto the address a peer really sends from")                    \
  X(relatched, "latches moved to a new source (NAT rebinding, failover)")                      \
  X(rtcp_read, "RTCP compounds read for quality (receiver loss, jitter, round trip)")          \
  X(rtcp_unreadable, "RTCP datagrams relayed but not readable (SRTCP, malformed)")             \
  X(io_uring_fallbacks, "relays started on epoll because io_uring was not allowed here")     \
  X(connect_failed, "legs that could not connect a sending socket to a peer (sent addressed)")

OUTPOST_DEFINE_STATS(MediaStats, "outpost_media_", OUTPOST_MEDIA_STATS);

// stream_closed: arrived on the parked sockets of a finished stream (late packets of the old
// call, or a scan of the port range).
enum class MediaDrop { no_peer, source_not_allowed, send_failed, truncated, stream_closed, count_ };
inline constexpr std::array<const char*, static_cast<size_t>(MediaDrop::count_)> kMediaDropNames = {
    "no_peer", "source_not_allowed", "send_failed", "truncated", "stream_closed"};

class MediaDrops {
 public:
  explicit MediaDrops(MetricsRegistry& registry);
  void add(MediaDrop reason, uint64_t n = 1) { counters_[static_cast<size_t>(reason)]->inc(n); }
  uint64_t value(MediaDrop reason) const { return counters_[static_cast<size_t>(reason)]->value(); }
  nlohmann::json to_json() const;

 private:
  std::array<Counter*, static_cast<size_t>(MediaDrop::count_)> counters_{};
};

}  // namespace outpost::media
