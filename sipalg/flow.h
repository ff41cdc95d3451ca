#pragma once
// Where a SIP message came from or goes to: the side (LAN devices or the vendor), the
// transport, the peer's address and, for TCP, the connection it travels on.
#include <cstdint>
#include <string>
#include <vector>

#include "common/net.h"

namespace outpost::sip {

enum class Side { lan, uplink };
enum class Transport { udp, tcp, tls };  // tls: LAN side only (devices connect to outpost)

inline const char* to_string(Side s) { return s == Side::lan ? "lan" : "uplink"; }
inline const char* to_string(Transport t) { return t == Transport::udp ? "udp" : t == Transport::tcp ? "tcp" : "tls"; }
inline const char* via_token(Transport t) { return t == Transport::udp ? "UDP" : t == Transport::tcp ? "TCP" : "TLS"; }
// The URI parameter for a transport ("" for UDP, the default).
inline const char* transport_param(Transport t) {
  return t == Transport::udp ? "" : t == Transport::tcp ? ";transport=tcp" : ";transport=tls";
}
// Connection-oriented (TCP or TLS): replies go back on the connection.
inline bool is_stream(Transport t) { return t != Transport::udp; }
inline Side other(Side s) { return s == Side::lan ? Side::uplink : Side::lan; }

struct Flow {
  Side side = Side::lan;
  Transport transport = Transport::udp;
  Endpoint peer;
  uint64_t connection = 0;  // TCP connection id (0: none yet / UDP)
  uint16_t local_port = 0;  // LAN: an extra port of outpost's the device uses (0: the main one)

  std::string to_string() const {
    return std::string(sip::to_string(transport)) + ":" + peer.to_string() + (connection ? "#" + std::to_string(connection) : "");
  }
};

// outpost's own SIP addresses, one per side: what goes into Via, Record-Route and Contact.
// The vendor only ever sees the uplink one, devices only the LAN one.
struct Identity {
  IpAddress lan;
  uint16_t lan_port = 5060;
  IpAddress uplink;
  uint16_t uplink_port = 5060;
  uint16_t lan_tls_port = 0;  // SIP over TLS on the LAN address (0: none)
  std::vector<uint16_t> lan_extra_ports{};  // the profile's extra LAN ports (AETA: 5070)

  const IpAddress& address(Side s) const { return s == Side::lan ? lan : uplink; }
  uint16_t port(Side s) const { return s == Side::lan ? lan_port : uplink_port; }
  // The port a peer reaches outpost on with `t` (TLS has its own on the LAN side).
  // ... or an extra port the peer uses (local_port, LAN side only).
  uint16_t port(Side s, Transport t, uint16_t local_port = 0) const {
    if (s == Side::lan && local_port) return local_port;
    return s == Side::lan && t == Transport::tls ? lan_tls_port : port(s);
  }
  std::string host_port(Side s) const { return Endpoint{address(s), port(s)}.to_string(); }
  std::string host_port(Side s, Transport t, uint16_t local_port = 0) const {
    return Endpoint{address(s), port(s, t, local_port)}.to_string();
  }
  std::string host_port(const Flow& f) const { return host_port(f.side, f.transport, f.local_port); }
  bool is_own(const IpAddress& a, unsigned p) const {
    if (a == uplink && p == uplink_port) return true;
    if (a != lan) return false;
    if (p == lan_port || (lan_tls_port && p == lan_tls_port)) return true;
    for (auto x : lan_extra_ports)
      if (p == x) return true;
    return false;
  }
};

}  // namespace outpost::sip
