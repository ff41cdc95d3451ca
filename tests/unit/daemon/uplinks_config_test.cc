// The uplinks section of the config loader (issue 8): values, defaults, FILE:LINE:COL errors.
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <unistd.h>

#include "daemon/config_loader.h"
#include "tests/unit/daemon/config_test_util.h"

using namespace outpost;
using namespace outpost::config;

namespace {

LoadResult load(const std::string& text) { return test::load_named(text, "u.yaml"); }

void expect_error(const std::string& text, int line, int column, const std::string& fragment) {
  test::expect_error_named(text, "u.yaml", line, column, fragment);
}

// A key file that exists (the loader checks existence; the tunnel checks the content),
// removed when the test binary exits.
struct KeyFile {
  std::string path = "/tmp/outpost-unit-wg-" + std::to_string(::getpid()) + ".key";
  KeyFile() { std::ofstream(path) << "YEocP0e2o1WT5GlvBvQzVF7EeR6z9aCk+ANZ3whjyHs=\n"; }
  ~KeyFile() { std::remove(path.c_str()); }
};

std::string key_file() {
  static const KeyFile file;
  return file.path;
}

const std::string kHead =
    "lan:\n  interface: lan0\n  address: 10.20.0.1/24\n"  // lines 1-3
    "vendor:\n  profile: lab\n"                             // lines 4-5
    "uplinks:\n";                                           // line 6

std::string primary() {
  return "  primary:\n    interface: wanp0\n    address: 198.51.100.1/30\n    gateway: 198.51.100.2\n";  // 7-10
}

std::string backup(const std::string& extra = "") {
  return "  backup:\n"                                          // 11
         "    underlay_interface: inet0\n"                       // 12
         "    address: 198.51.100.17/30\n"                       // 13
         "    private_key_file: " + key_file() + "\n"            // 14
         "    peer:\n"                                           // 15
         "      public_key: \"Sx1uFcBjSC0XgvMQq+8zOYzWj8Oz3zIxeQGW/2GQ+Hk=\"\n"  // 16
         "      endpoint: 192.0.2.6:51820\n" + extra;            // 17
}

}  // namespace

TEST_CASE("uplinks: primary, backup and probe load with their defaults", "[daemon][config][uplinks]") {
  auto r = load(kHead + primary() + backup() + "  probe:\n    interval_ms: 50\n    holddown: 3\n");
  INFO(r.errors.to_string());
  REQUIRE(r.config);
  const auto& u = r.config->uplinks;
  CHECK(u.table == 4242);
  CHECK(u.rule_priority == 4242);
  CHECK(u.primary.configured);
  CHECK(u.primary.interface == "wanp0");
  CHECK(u.primary.gateway.to_string() == "198.51.100.2");
  CHECK(u.backup.configured);
  CHECK(u.backup.interface == "opwg0");
  CHECK(u.backup.listen_port == 51820);
  CHECK(u.backup.mtu == 1420);
  CHECK(u.backup.peer.endpoint.to_string() == "192.0.2.6:51820");
  CHECK(u.backup.peer.keepalive_s == 5);
  CHECK(u.probe.interval_ms == 50);
  CHECK(u.probe.timeout_ms == 150);
  CHECK(u.probe.loss_threshold == 3);
  CHECK(u.probe.holddown_s == 3);
  CHECK(u.probe.targets.at(0).to_string() == "203.0.113.7:7");  // the profile's probe target
}

TEST_CASE("uplinks: no section, no uplinks", "[daemon][config][uplinks]") {
  auto r = load("lan:\n  interface: lan0\n  address: 10.20.0.1/24\nvendor:\n  profile: lab\n");
  REQUIRE(r.config);
  CHECK_FALSE(r.config->uplinks.primary.configured);
  CHECK_FALSE(r.config->uplinks.backup.configured);
}

TEST_CASE("uplinks: mistakes are reported at FILE:LINE:COL", "[daemon][config][uplinks]") {
  SECTION("VLAN device name too long for the kernel") {
    expect_error(kHead + "  primary:\n    interface: enp0s31f6abc\n    vlan: 1200\n    address: 198.51.100.1/30\n"
                         "    gateway: 198.51.100.2\n",
                 9, 11, "interface name 'enp0s31f6abc.1200' is longer than 15 characters");
  }
  SECTION("backup inner address must be IPv4") {
    auto text = kHead + primary() + backup();
    text.replace(text.find("198.51.100.17/30"), 16, "2001:db8::1/64");
    expect_error(text, 13, 14, "the tunnel's inner address must be IPv4");
  }
  SECTION("backup interface is the primary's") {
    expect_error(kHead + primary() + backup() + "    interface: wanp0\n", 18, 16, "is the primary uplink's interface");
  }
  SECTION("underlay interface name too long") {
    auto text = kHead + primary() + backup();
    text.replace(text.find("inet0"), 5, "a-very-long-ifname");
    expect_error(text, 12, 25, "interface names are at most 15 characters");
  }
  SECTION("peer public key of the wrong length") {
    auto text = kHead + primary() + backup();
    text.replace(text.find("\"Sx1u"), 46, "abc");
    expect_error(text, 16, 19, "expected a 44-character base64 WireGuard key");
  }
  SECTION("missing private key file") {
    auto text = kHead + primary() + backup();
    text.replace(text.find(key_file()), key_file().size(), "/nonexistent/wg.key");
    expect_error(text, 14, 23, "/nonexistent/wg.key");
  }
  SECTION("probe interval out of range") {
    expect_error(kHead + primary() + "  probe:\n    interval_ms: 5\n", 12, 18, "5 is out of range (10-1000)");
  }
  SECTION("rule priority out of range") {
    expect_error(kHead + "  rule_priority: 32766\n", 7, 18, "32766 is out of range (1-32765)");
  }
}
