#include "vpn/wireguard_uapi.h"

#include <sstream>

namespace outpost::vpn::wg {

Result<std::string> key_to_hex(const std::string& text) {
  std::string b64;
  for (char c : text)
    if (!std::isspace(static_cast<unsigned char>(c))) b64 += c;
  if (b64.size() != 44 || b64[43] != '=' || b64[42] == '=') return make_error("not a 44-character base64 WireGuard key");
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string bytes;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < 43; ++i) {
    int v = value(b64[i]);
    if (v < 0) return make_error("not a base64 WireGuard key: bad character");
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (bytes.size() != 32 || (acc & ((1u << bits) - 1)) != 0) return make_error("not a 32-byte WireGuard key");
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) out += hex[b >> 4], out += hex[b & 15];
  return out;
}

std::string set_request(const DeviceConfig& c) {
  std::ostringstream o;
  o << "set=1\n"
    << "private_key=" << c.private_key_hex << "\n"
    << "listen_port=" << c.listen_port << "\n"
    << "replace_peers=true\n"
    << "public_key=" << c.peer.public_key_hex << "\n"
    << "endpoint=" << c.peer.endpoint.to_string() << "\n"
    << "persistent_keepalive_interval=" << c.peer.keepalive_s << "\n"
    << "replace_allowed_ips=true\n";
  for (const auto& p : c.peer.allowed_ips) o << "allowed_ip=" << p.to_string() << "\n";
  o << "\n";
  return o.str();
}

DeviceStatus parse_reply(const std::string& text) {
  DeviceStatus s;
  std::istringstream in(text);
  std::string line;
  PeerStatus* peer = nullptr;
  auto number = [](const std::string& v) -> uint64_t {
    try {
      return std::stoull(v);
    } catch (...) {
      return 0;
    }
  };
  while (std::getline(in, line)) {
    if (line.empty()) break;
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string k = line.substr(0, eq), v = line.substr(eq + 1);
    if (k == "errno") s.errno_value = static_cast<int>(number(v));
    else if (k == "listen_port") s.listen_port = static_cast<uint16_t>(number(v));
    else if (k == "public_key") peer = &s.peers.emplace_back(PeerStatus{v, {}, 0, 0, 0});
    else if (peer && k == "endpoint") peer->endpoint = v;
    else if (peer && k == "last_handshake_time_sec") peer->last_handshake_s = number(v);
    else if (peer && k == "rx_bytes") peer->rx_bytes = number(v);
    else if (peer && k == "tx_bytes") peer->tx_bytes = number(v);
  }
  return s;
}

}  // namespace outpost::vpn::wg
