#pragma once
// Where a SIP message came from or goes to: the side (LAN devices or the vendor), the
// transport, the peer's address and, for TCP, the connection it travels on.
#include <cstdint>
#include <string>
#include <vector>

#include "common/net.h"

namespace outpost::sip {

enum class Side { lan, uplink };
// wss: SIP over secure WebSocket (RFC 7118): on the LAN side on the TLS passthrough's
// port for vendor.wss_fqdn; on the uplink side a connection outpost opens to the vendor.
enum class Transport { udp, tcp, tls, wss };

inline const char* to_string(Side s) { return s == Side::lan ? "lan" : "uplink"; }
inline const char* to_string(Transport t) {
  switch (t) {
    case Transport::udp: return "udp";
    case Transport::tcp: return "tcp";
    case Transport::tls: return "tls";
    case Transport::wss: return "wss";
  }
  return "udp";
}
inline const char* via_token(Transport t) {
  switch (t) {
    case Transport::udp: return "UDP";
    case Transport::tcp: return "TCP";
    case Transport::tls: return "TLS";
    case Transport::wss: return "WSS";
  }
  return "UDP";
}
// The URI parameter for a transport ("" for UDP, the default). RFC 7118 §5: "ws" names
// both WS and WSS in URIs (only the Via says WSS).
inline const char* transport_param(Transport t) {
  switch (t) {
    case Transport::udp: return "";
    case Transport::tcp: return ";transport=tcp";
    case Transport::tls: return ";transport=tls";
    case Transport::wss: return ";transport=ws";
  }
  return "";
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
  uint16_t lan_wss_port = 0;  // SIP over WSS on the LAN address: the TLS passthrough's port (0: none)
  // The source port of the TLS and WSS connections outpost opens to the vendor (all bound
  // to it, SO_REUSEPORT): Via, Record-Route and Contact name it, so the vendor sends its
  // requests back over the open connection, as it does for its own clients (0: none).
  uint16_t uplink_tls_port = 0;
  std::vector<uint16_t> lan_extra_ports{};  // the profile's extra LAN ports (AETA: 5070)

  const IpAddress& address(Side s) const { return s == Side::lan ? lan : uplink; }
  uint16_t port(Side s) const { return s == Side::lan ? lan_port : uplink_port; }
  // The port a peer reaches outpost on with `t` (TLS and WSS have their own on the LAN side).
  // ... or an extra port the peer uses (local_port, LAN side only).
  uint16_t port(Side s, Transport t, uint16_t local_port = 0) const {
    if (s == Side::lan && local_port) return local_port;
    if (s == Side::lan && t == Transport::tls) return lan_tls_port;
    if (s == Side::lan && t == Transport::wss) return lan_wss_port;
    if (s == Side::uplink && (t == Transport::tls || t == Transport::wss) && uplink_tls_port) return uplink_tls_port;
    return port(s);
  }
  std::string host_port(Side s) const { return Endpoint{address(s), port(s)}.to_string(); }
  std::string host_port(Side s, Transport t, uint16_t local_port = 0) const {
    return Endpoint{address(s), port(s, t, local_port)}.to_string();
  }
  std::string host_port(const Flow& f) const { return host_port(f.side, f.transport, f.local_port); }
  bool is_own(const IpAddress& a, unsigned p) const {
    if (a == uplink && (p == uplink_port || (uplink_tls_port && p == uplink_tls_port))) return true;
    if (a != lan) return false;
    if (p == lan_port || (lan_tls_port && p == lan_tls_port) || (lan_wss_port && p == lan_wss_port)) return true;
    for (auto x : lan_extra_ports)
      if (p == x) return true;
    return false;
  }
};

}  // namespace outpost::sip
