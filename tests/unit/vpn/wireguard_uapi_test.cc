#include <catch2/catch.hpp>

#include "vpn/wireguard_uapi.h"

using namespace outpost;
using namespace outpost::vpn;

TEST_CASE("base64 WireGuard keys become the UAPI's hex", "[vpn][wireguard]") {
  auto hex = wg::key_to_hex("Sx1uFcBjSC0XgvMQq+8zOYzWj8Oz3zIxeQGW/2GQ+Hk=\n");
  REQUIRE(hex);
  CHECK(*hex == "4b1d6e15c063482d1782f310abef33398cd68fc3b3df3231790196ff6190f879");
  CHECK_FALSE(wg::key_to_hex(""));
  CHECK_FALSE(wg::key_to_hex("Sx1uFcBjSC0XgvMQq+8zOYzWj8Oz3zIxeQGW/2GQ+Hk"));    // no padding
  CHECK_FALSE(wg::key_to_hex("Sx1uFcBjSC0XgvMQq+8zOYzWj8Oz3zIxeQGW/2GQ+H*="));  // bad character
  CHECK_FALSE(wg::key_to_hex("Sx1uFcBjSC0XgvMQq+8zOYzWj8Oz3zIxeQGW/2GQ+Hl="));  // non-zero pad bits
}

TEST_CASE("the set request replaces peers and allowed IPs", "[vpn][wireguard]") {
  wg::DeviceConfig c;
  c.private_key_hex = std::string(64, 'a');
  c.listen_port = 51820;
  c.peer.public_key_hex = std::string(64, 'b');
  c.peer.endpoint = *parse_endpoint("192.0.2.6:51820");
  c.peer.keepalive_s = 5;
  c.peer.allowed_ips = {*parse_prefix("203.0.113.0/24").prefix, *parse_prefix("198.51.100.18/32").prefix};
  CHECK(wg::set_request(c) ==
        "set=1\nprivate_key=" + std::string(64, 'a') + "\nlisten_port=51820\nreplace_peers=true\npublic_key=" +
            std::string(64, 'b') +
            "\nendpoint=192.0.2.6:51820\npersistent_keepalive_interval=5\nreplace_allowed_ips=true\n"
            "allowed_ip=203.0.113.0/24\nallowed_ip=198.51.100.18/32\n\n");
}

TEST_CASE("get replies are parsed; incomplete ones are recognised", "[vpn][wireguard]") {
  std::string reply =
      "private_key=aa\nlisten_port=51820\npublic_key=bb\nendpoint=192.0.2.6:51820\nlast_handshake_time_sec=1700000000\n"
      "last_handshake_time_nsec=5\nrx_bytes=1234\ntx_bytes=5678\npersistent_keepalive_interval=5\n"
      "allowed_ip=203.0.113.0/24\nprotocol_version=1\nerrno=0\n\n";
  CHECK(wg::reply_complete(reply));
  CHECK_FALSE(wg::reply_complete("errno=0\n"));
  auto s = wg::parse_reply(reply);
  CHECK(s.errno_value == 0);
  CHECK(s.listen_port == 51820);
  REQUIRE(s.peers.size() == 1);
  CHECK(s.peers[0].public_key_hex == "bb");
  CHECK(s.peers[0].endpoint == "192.0.2.6:51820");
  CHECK(s.peers[0].last_handshake_s == 1700000000);
  CHECK(s.peers[0].rx_bytes == 1234);
  CHECK(s.peers[0].tx_bytes == 5678);
  CHECK(wg::parse_reply("errno=22\n\n").errno_value == 22);
  CHECK(wg::parse_reply("rx_bytes=junk\n\n").errno_value == -1);  // never crashes on junk
}
