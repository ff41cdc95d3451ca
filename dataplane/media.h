#pragma once
// outpost's media relay, as the rest of the daemon sees it. LAN devices cannot reach the
// vendor's media servers, so every stream a SIP dialog negotiates gets two legs on outpost:
// one on the LAN address (media.lan_ports), one on the uplink address (media.uplink_ports).
// The SIP proxy rewrites SDP so that each side sends to its leg; the relay forwards what
// arrives on one leg out of the other, untouched (RTP, RTCP, SRTP, DTLS, STUN alike:
// encryption stays end to end), latching onto the address each peer really sends from.
//
// The SIP proxy talks to it through `MediaRelay` only; the engine behind it (epoll with
// recvmmsg/sendmmsg, io_uring, the DPDK forwarder later) is private to dataplane/.
// `show media`, metrics outpost_media_*, and per-call figures for `show calls` and the call
// records come from here. See dataplane/README.md.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/component.h"
#include "common/net.h"
#include "common/result.h"
#include "daemon/config_model.h"

namespace outpost::media {

// The two sides of outpost, as the SIP proxy names them.
enum class LegSide { lan, uplink };

// One media description (m= line) of one SDP body, as the SIP proxy read it.
struct StreamOffer {
  std::string call_id;  // the Call-ID the vendor sees: one key per call on both sides
  unsigned index = 0;   // the m= line's position in the body (0-based)
  LegSide from = LegSide::lan;  // the side whose SDP this is
  // Where that side says it receives RTP (c= address, m= port) and RTCP (a=rtcp, or RTP port
  // + 1). nullopt: on hold / port 0 / 0.0.0.0 (keep the legs, expect no media from there).
  std::optional<Endpoint> rtp;
  std::optional<Endpoint> rtcp;
  bool rtcp_mux = false;  // a=rtcp-mux: RTCP shares the RTP port
  // The RTP clock of payload types as the m-section's a=rtpmap lines give it (for BUNDLE, those
  // of every m-section sharing this stream's 5-tuple). The relay's quality figures need it for
  // dynamic types (>= 96: Opus 48000, video 90000, ...); empty: assumed from the type.
  struct ClockRate {
    uint8_t payload_type = 0;
    uint32_t hz = 0;
  };
  std::vector<ClockRate> clock_rates = {};
};

// outpost's ports for one stream: what the SDP sent to each side must name.
struct StreamPorts {
  Endpoint lan_rtp, lan_rtcp;        // on the LAN address (rtcp = rtp + 1)
  Endpoint uplink_rtp, uplink_rtcp;  // on the uplink address
};

// One call's media summed over its streams: the call record's quality columns.
struct CallMediaTotals {
  unsigned streams = 0;  // 0: no media went through outpost (the columns stay empty)
  uint64_t packets_to_vendor = 0, packets_to_lan = 0;
  uint64_t lost_to_vendor = 0, lost_to_lan = 0;
  double jitter_ms_max = 0;       // the worst direction of any stream, in ms (2 decimals)
  std::optional<double> mos_min;  // the worst MOS estimate, when any stream had one (2 decimals)
};

class MediaRelay : public Component {
 public:
  // Allocates the stream's legs on its first offer and returns the same ports on every later
  // one for the same (call_id, index) — re-INVITE, UPDATE, 183 then 200, forked answers —
  // updating the peer that side announced. An error (no free ports, no uplink address):
  // the SIP proxy forwards the body unchanged and counts it.
  virtual Result<StreamPorts> offer(const StreamOffer& offer) = 0;
  // The call ended (BYE, CANCEL, failed INVITE, dialog expiry): its ports are freed.
  virtual void release(const std::string& call_id) = 0;
  // Per-stream figures of one call (packets, bytes, loss, jitter, MOS per direction) for
  // `show calls` and the call record; an empty array for an unknown call.
  virtual nlohmann::json call_media(const std::string& call_id) const = 0;
  // The same call's figures summed for its call record, without building JSON (once per
  // call, on the call path).
  virtual CallMediaTotals call_totals(const std::string& call_id) const = 0;
};

// How datagrams move (dataplane/media_session.h): epoll with recvmmsg/sendmmsg, or io_uring
// (falling back to epoll where the kernel refuses it). Chosen by `media.engine` unless given
// here (tests run both).
enum class MediaEngine { epoll, io_uring };

std::shared_ptr<MediaRelay> make_media_relay(const ComponentContext& context, const config::Config& config,
                                             std::optional<MediaEngine> engine = std::nullopt);

}  // namespace outpost::media
