#pragma once
// The typed appliance configuration: one YAML file parsed once, validated fully, then
// handed out by section. Components read their section from here, never the YAML tree.
// Defaults here are the defaults documented in outpost.yaml(5).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/log.h"
#include "common/net.h"

namespace outpost::config {

struct RateLimit {
  unsigned per_second = 0;  // 0 = unlimited
  unsigned burst = 0;
};

struct Lan {
  std::string interface;
  InterfaceAddress address;                 // the appliance's one LAN address
  std::optional<InterfaceAddress> address6;  // optional LAN IPv6 address
  std::vector<Prefix> client_subnets;       // who may use the appliance
};

struct Vxlan {
  uint32_t vni = 0;
  IpAddress remote;  // the vendor POP's VTEP
  uint16_t port = 4789;
  std::string interface;  // created by outpost
};

struct PrimaryUplink {
  bool configured = false;
  std::string interface;
  std::optional<uint16_t> vlan;  // 802.1Q
  InterfaceAddress address;
  IpAddress gateway;
  uint16_t mtu = 1500;
  std::optional<Vxlan> vxlan;
  std::string probe;  // "udp" | "icmp" | "auto"; empty: uplinks.probe.kind
};

struct TunnelPeer {
  std::string public_key;  // base64 WireGuard key
  Endpoint endpoint;
  std::vector<Prefix> allowed_ips;
  unsigned keepalive_s = 5;
};

struct BackupUplink {
  bool configured = false;
  std::string engine = "wireguard";
  std::string interface = "opwg0";
  std::string underlay_interface;  // the customer's internet access
  InterfaceAddress address;        // inner address
  std::string private_key_file;
  uint16_t listen_port = 51820;
  uint16_t mtu = 1420;
  TunnelPeer peer;
  std::string probe;  // "udp" | "icmp" | "auto"; empty: uplinks.probe.kind
};

struct Probing {
  std::vector<Endpoint> targets;  // UDP echo targets at the vendor (default: profile's)
  unsigned interval_ms = 50;
  unsigned timeout_ms = 150;
  unsigned loss_threshold = 3;  // consecutive lost probes before failover
  unsigned holddown_s = 10;     // primary healthy this long before failback
  // UDP echo, ICMP echo, or auto: UDP, falling back to ICMP while UDP is unanswered and
  // ICMP answers (vpn/probe_kind.h). Per uplink: uplinks.primary.probe / uplinks.backup.probe.
  std::string kind = "auto";
};

struct Uplinks {
  PrimaryUplink primary;
  BackupUplink backup;
  Probing probe;
  uint32_t table = 4242;          // outpost's own routing table
  uint32_t rule_priority = 4242;  // and policy rule priority
  unsigned confirm_timeout_s = 60;  // provisioning commit-confirm window
};

struct SipServer {
  std::string host;  // DNS name (RFC 3263 lookup) or IP address
  uint16_t port = 0;  // 0 = from NAPTR/SRV or transport default
  std::string transport = "udp";  // udp, tcp, tls, wss, auto (NAPTR picks: RFC 3263 4.1)
  std::string path = "/";         // wss: the URL path of the vendor's WebSocket endpoint
};

struct VendorPorts {
  std::vector<PortRange> sip;
  std::vector<PortRange> media;
  std::vector<PortRange> https;
  std::vector<PortRange> stun;
};

struct Vendor {
  std::string profile;  // profile name, "" if inline only
  std::string display_name;
  std::vector<std::string> fqdns;  // exact names and "*.domain" wildcards
  std::vector<Prefix> prefixes;
  VendorPorts ports;
  std::vector<SipServer> sip_servers;
  std::vector<Endpoint> resolvers;  // the vendor's own DNS, reached over the uplink
  std::vector<Endpoint> probe_targets;
  std::string wss_fqdn;       // SIP over WebSocket name terminated by outpost
  std::string default_host;   // TLS without SNI goes here ("" = reset)
  std::optional<Endpoint> turn;  // non-TLS bytes on 443 (TURN over TCP)
  std::vector<uint16_t> sip_extra_ports;  // LAN-side extra SIP ports (AETA: 5070)
  unsigned registration_expiry_s = 0;     // vendor's required expiry, 0 = device's
  unsigned kbps_per_call = 100;
};

struct Dns {
  bool enabled = true;
  std::vector<IpAddress> listen;  // default: the LAN address
  uint16_t port = 53;
  unsigned ttl_s = 30;
  std::vector<Endpoint> forwarders;  // site resolvers; empty = full recursion
  std::map<std::string, IpAddress> overrides;
  RateLimit rate_limit{200, 400};
  bool dnssec = false;
  std::string trust_anchor_file;
};

struct Sip {
  bool enabled = true;
  uint16_t udp_port = 5060;
  uint16_t tcp_port = 5060;
  uint16_t tls_port = 5061;
  std::string tls_certificate;
  std::string tls_key;
  unsigned max_message_bytes = 65535;
  RateLimit rate_limit{100, 200};
  unsigned device_expiry_s = 120;  // registration expiry offered to LAN devices
  unsigned vendor_expiry_s = 3600;  // registration expiry asked of the vendor (throttling)
  unsigned keepalive_s = 25;
  std::string cdr_dir;  // default <state_dir>/cdr
  // TLS and WSS to the vendor: the CAs that sign its certificate (PEM; "" = the system's
  // store) and whether to check it at all (a lab or a vendor's private CA may need false).
  std::string uplink_ca;
  bool uplink_verify = true;
  // What LAN peers may hold open on the stream transports (TCP, TLS, WSS): an accepted
  // TLS/WSS connection must finish its handshake (and upgrade) in time; a LAN connection
  // idle both ways is closed, after more than device_expiry (a registered device refreshes
  // at least that often); accepted LAN connections are limited in all and per source IP.
  unsigned tls_handshake_timeout_s = 10;
  unsigned tcp_idle_timeout_s = 600;  // when not set: 600, or 2 x device_expiry if larger
  unsigned max_connections = 4096;
  unsigned max_connections_per_source = 32;
};

struct Media {
  PortRange lan_ports{10000, 20000};
  PortRange uplink_ports{30000, 40000};
  unsigned timeout_s = 60;
  unsigned latch_packets = 3;
  // Finished streams whose bound sockets are kept for re-use (media_parking.h); 0: sockets
  // are closed and ports freed when the call ends.
  unsigned parked_streams = 1024;
  // How datagrams move (dataplane/README.md): "epoll" (recvmmsg/sendmmsg) or "io_uring"
  // (falls back to epoll where the kernel refuses it), and how long the io_uring engine may
  // wait to gather completions into one batch (0: none; needs Linux 6.1).
  std::string engine = "io_uring";
  unsigned coalesce_us = 200;
};

struct Tls {
  bool enabled = true;
  uint16_t https_port = 443;
  uint16_t http_port = 80;
  std::string http_policy = "passthrough";  // or "redirect"
  std::string wss_certificate;
  std::string wss_key;
  unsigned max_connections = 4096;
  unsigned per_client_rate = 50;  // new connections per second per client
  unsigned client_hello_timeout_ms = 5000;
  unsigned connect_timeout_ms = 3000;
  unsigned idle_timeout_s = 600;
  std::string relay = "auto";  // copy (recv/send), splice (splice(2) via pipes) or auto (copy, splice for bulk)
};

struct Dataplane {
  std::string engine = "kernel";  // kernel or dpdk
  std::vector<std::string> eal_args;
  unsigned lcore = 1;
  std::string exception_path = "tap";  // tap or virtio_user
};

struct Management {
  std::string control_socket = "/run/outpost/control.sock";
  std::string control_group = "outpost";
  bool metrics_enabled = true;
  Endpoint metrics{*parse_address("127.0.0.1"), 9800};
  LogLevel log_level = LogLevel::info;
  std::string state_dir = "/var/lib/outpost";
  std::string profile_dir;  // "" = the installed profiles directory
};

struct Config;
// The address outpost speaks to the vendor from (SIP's and the media relay's uplink side):
// the primary uplink's address when one is configured, else the kernel's source address
// toward the first vendor prefix; nullopt while there is neither.
std::optional<IpAddress> vendor_facing_address(const Config& c);

struct Config {
  std::string file;
  Lan lan;
  Uplinks uplinks;
  Vendor vendor;
  Dns dns;
  Sip sip;
  Media media;
  Tls tls;
  Dataplane dataplane;
  Management management;
};

inline std::optional<IpAddress> vendor_facing_address(const Config& c) {
  if (c.uplinks.primary.configured) return c.uplinks.primary.address.address;
  if (c.vendor.prefixes.empty()) return std::nullopt;
  return source_address_toward(c.vendor.prefixes.front().address);
}

}  // namespace outpost::config
