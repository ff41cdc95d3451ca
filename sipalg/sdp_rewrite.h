#pragma once
// act: the SdpRewriter that sends every media stream through outpost's media relay
// (dataplane/media.h). Each stream of a body is offered to the relay, then the body is
// rewritten for the side it goes to: c=, o=, m= ports, a=rtcp and a=candidate name outpost's
// address and ports on that side, so each side sends its media to outpost and never learns
// the other side's addresses. Lines it does not change go out byte-identical. See
// sipalg/README.md, "SDP rewrite".
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/metrics.h"
#include "common/net.h"
#include "dataplane/media.h"
#include "sipalg/sdp.h"

namespace outpost::sip {

#define OUTPOST_SDP_STATS(X)                                                                            \
  X(rewritten, "SDP bodies rewritten to outpost's relay ports")                                        \
  X(unchanged_malformed, "SDP bodies forwarded unchanged: not parsable (no v=, bad m=, c= or o=)")     \
  X(unchanged_oversize, "SDP bodies forwarded unchanged: over 64 KiB or over 64 m= lines")             \
  X(unchanged_no_address, "SDP bodies forwarded unchanged: outpost has no address on that side yet")   \
  X(unchanged_relay_error, "SDP bodies forwarded unchanged: the media relay refused a stream (ports)")

OUTPOST_DEFINE_STATS(SdpStats, "outpost_sip_sdp_", OUTPOST_SDP_STATS);

class RelaySdp final : public SdpRewriter {
 public:
  // `lan` and `uplink`: outpost's addresses, what the SDP sent to each side names (the SIP
  // Identity's). An unspecified uplink address (no uplink yet) leaves vendor-bound bodies
  // unchanged until set_uplink_address().
  RelaySdp(std::shared_ptr<media::MediaRelay> relay, IpAddress lan, IpAddress uplink, MetricsRegistry& metrics);

  std::optional<std::string> rewrite(const SdpContext& context, std::string_view body) override;
  void release(const std::string& call_id) override;

  // The uplink address changed (failover, or it appeared after start).
  void set_uplink_address(const IpAddress& uplink) { uplink_ = uplink; }
  const SdpStats& stats() const { return stats_; }
  // Why the last unchanged body was left alone, for the caller's (rate-limited) log.
  const std::string& last_error() const { return last_error_; }

 private:
  std::shared_ptr<media::MediaRelay> relay_;
  IpAddress lan_, uplink_;
  SdpStats stats_;
  std::string last_error_;
};

}  // namespace outpost::sip
