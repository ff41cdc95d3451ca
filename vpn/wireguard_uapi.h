#pragma once
// The WireGuard configuration protocol (the cross-platform UAPI that `wg set` speaks to
// wireguard-go over /var/run/wireguard/<if>.sock; kernel WireGuard exposes the same model
// over generic netlink). Pure text in, text out: keys, requests, replies.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/net.h"
#include "common/result.h"

namespace outpost::vpn::wg {

// A 44-character base64 key (what `wg genkey` prints) as the 64 hex digits the UAPI wants.
Result<std::string> key_to_hex(const std::string& base64);
// The public key of a base64 private key is not computed here (no home-made crypto): the
// private key only goes to the engine.

struct PeerConfig {
  std::string public_key_hex;
  Endpoint endpoint;
  unsigned keepalive_s = 0;
  std::vector<Prefix> allowed_ips;
};

struct DeviceConfig {
  std::string private_key_hex;
  uint16_t listen_port = 0;
  PeerConfig peer;
};

// "set=1\n...\n\n": replaces every peer and allowed IP (the device then holds exactly this).
std::string set_request(const DeviceConfig& c);
inline std::string get_request() { return "get=1\n\n"; }

struct PeerStatus {
  std::string public_key_hex;
  std::string endpoint;
  uint64_t last_handshake_s = 0;  // UNIX time, 0 = never
  uint64_t rx_bytes = 0, tx_bytes = 0;
};
struct DeviceStatus {
  int errno_value = -1;  // 0 = ok
  uint16_t listen_port = 0;
  std::vector<PeerStatus> peers;
};
// Parses a reply (up to and including the blank line); errno_value < 0 when incomplete.
DeviceStatus parse_reply(const std::string& text);
// True once `text` holds a whole reply (ends with an empty line).
inline bool reply_complete(const std::string& text) {
  return text.size() >= 2 && text.compare(text.size() - 2, 2, "\n\n") == 0;
}

}  // namespace outpost::vpn::wg
