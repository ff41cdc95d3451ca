#pragma once
// Symmetric latching for one socket of one leg: media goes back to the address:port the peer
// really sends from (phones behind NAT, a vendor media server that answers from another
// port), not only to what its SDP said. Hijack protection: a source is taken only if
// signalling or policy allows its address (the signalled address, lan.client_subnets on the
// LAN leg, vendor.prefixes on the uplink leg), and only after `latch_packets` consecutive
// packets from it. A new allowed source that sends as many re-latches (NAT rebinding, uplink
// failover). Pure: no sockets, no clock; the relay feeds it every packet's source.
#include <algorithm>
#include <boost/asio/ip/udp.hpp>
#include <optional>
#include <vector>

#include "common/net.h"

namespace outpost::media {

using UdpEndpoint = boost::asio::ip::udp::endpoint;

struct LatchOutcome {
  bool allowed = false;     // forward the packet; false: drop it (source_not_allowed)
  bool latched = false;     // this packet completed a latch...
  bool relatched = false;   // ...replacing an earlier one
};

class Latch {
 public:
  // Where the peer said it receives (offer/answer); nullopt on hold or before its SDP.
  void set_signalled(std::optional<UdpEndpoint> peer) { signalled_ = std::move(peer); }

  LatchOutcome on_packet(const UdpEndpoint& source, const std::vector<Prefix>& allowed_prefixes,
                         unsigned latch_packets);

  // Where media for this peer goes: the latched source, else the signalled address.
  const std::optional<UdpEndpoint>& destination() const { return latched_ ? latched_ : signalled_; }
  const std::optional<UdpEndpoint>& latched() const { return latched_; }
  const std::optional<UdpEndpoint>& signalled() const { return signalled_; }

 private:
  bool allowed(const UdpEndpoint& source, const std::vector<Prefix>& prefixes) const;

  std::optional<UdpEndpoint> signalled_;
  std::optional<UdpEndpoint> latched_;
  UdpEndpoint candidate_;        // the source of the current run of packets
  unsigned candidate_count_ = 0;  // consecutive allowed packets from candidate_
};

}  // namespace outpost::media
