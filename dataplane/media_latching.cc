#include "dataplane/media_latching.h"

namespace outpost::media {

bool Latch::allowed(const UdpEndpoint& source, const std::vector<Prefix>& prefixes) const {
  const IpAddress address = source.address();
  if (signalled_ && signalled_->address() == address) return true;
  for (const auto& p : prefixes)
    if (p.contains(address)) return true;
  return false;
}

LatchOutcome Latch::on_packet(const UdpEndpoint& source, const std::vector<Prefix>& allowed_prefixes,
                              unsigned latch_packets) {
  // Fast path, nearly every packet of a call: the latched peer again. It also breaks any
  // other source's run, so a spoofer interleaving with the real peer never latches.
  if (latched_ && source == *latched_) {
    candidate_count_ = 0;
    return {true, false, false};
  }
  if (!allowed(source, allowed_prefixes)) return {false, false, false};
  if (candidate_count_ > 0 && source == candidate_) {
    ++candidate_count_;
  } else {
    candidate_ = source;
    candidate_count_ = 1;
  }
  LatchOutcome out{true, false, false};
  if (candidate_count_ >= std::max(latch_packets, 1u)) {
    out.latched = true;
    out.relatched = latched_.has_value();
    latched_ = source;
    candidate_count_ = 0;
  }
  return out;
}

}  // namespace outpost::media
