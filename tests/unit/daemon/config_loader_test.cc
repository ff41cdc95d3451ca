#include <catch2/catch.hpp>

#include "daemon/config_loader.h"
#include "tests/unit/daemon/config_test_util.h"

using namespace outpost;
using namespace outpost::config;

namespace {

LoadOptions options() { return LoadOptions{OUTPOST_SOURCE_DIR "/daemon/profiles"}; }

LoadResult load(const std::string& text) { return test::load_named(text, "t.yaml"); }

void expect_error(const std::string& text, int line, int column, const std::string& fragment) {
  test::expect_error_named(text, "t.yaml", line, column, fragment);
}

const char* kValid =
    "lan:\n"
    "  interface: lan0\n"
    "  address: 10.20.0.1/24\n"
    "  client_subnets: [10.20.0.0/25]\n"
    "vendor:\n"
    "  profile: lab\n";

}  // namespace

TEST_CASE("a valid config loads with defaults and the profile merged", "[daemon][config]") {
  auto r = load(std::string(kValid) +
                "  fqdns: [extra.example]\n"
                "dns:\n"
                "  forwarders: [10.20.0.53]\n"
                "  overrides: {pbx.vendor.example: 10.20.0.9}\n");
  INFO(r.errors.to_string());
  REQUIRE(r.config);
  const auto& c = *r.config;
  CHECK(c.lan.address.to_string() == "10.20.0.1/24");
  CHECK(c.vendor.display_name == "Lab vendor");
  CHECK(c.vendor.fqdns == std::vector<std::string>{"vendor.example", "*.vendor.example", "extra.example"});
  CHECK(c.vendor.resolvers.at(0).to_string() == "203.0.113.53:53");
  CHECK(c.dns.listen.at(0).to_string() == "10.20.0.1");  // default: the LAN address
  CHECK(c.dns.forwarders.at(0).to_string() == "10.20.0.53:53");
  CHECK(c.dns.overrides.at("pbx.vendor.example").to_string() == "10.20.0.9");
  CHECK(c.dns.ttl_s == 30);
  CHECK(c.media.lan_ports.to_string() == "10000-20000");
  CHECK(c.management.control_socket == "/run/outpost/control.sock");
  CHECK(c.uplinks.probe.targets.at(0).to_string() == "203.0.113.7:7");  // from the profile
  CHECK(c.sip.cdr_dir == "/var/lib/outpost/cdr");
}

TEST_CASE("client subnets default to the LAN prefix", "[daemon][config]") {
  auto r = load("lan: {interface: lan0, address: 10.20.0.1/24}\nvendor: {profile: lab}\n");
  REQUIRE(r.config);
  CHECK(r.config->lan.client_subnets.at(0).to_string() == "10.20.0.0/24");
}

TEST_CASE("every shipped profile and example is valid", "[daemon][config]") {
  for (const char* profile : {"axialys", "webex", "genesys", "aeta", "lab"}) {
    auto r = load(std::string("lan: {interface: eth0, address: 10.20.0.1/24}\nvendor: {profile: ") + profile + "}\n");
    INFO(profile << ": " << r.errors.to_string());
    CHECK(r.config);
  }
  auto r = load_config(OUTPOST_SOURCE_DIR "/daemon/examples/minimal.yaml", options());
  INFO(r.errors.to_string());
  CHECK(r.config);
}

TEST_CASE("config mistakes are reported at FILE:LINE:COL", "[daemon][config]") {
  SECTION("unknown key") {
    expect_error(std::string(kValid) + "dns:\n  ttll: 30\n", 8, 3, "unknown key 'ttll' in dns");
  }
  SECTION("wrong type: a list where a number goes") {
    expect_error(std::string(kValid) + "dns:\n  ttl: [30]\n", 8, 8, "dns.ttl: expected a number, got a list");
  }
  SECTION("wrong type: a word where a boolean goes") {
    expect_error(std::string(kValid) + "dns:\n  enabled: maybe\n", 8, 12, "expected true or false, got 'maybe'");
  }
  SECTION("bad address") {
    expect_error(std::string(kValid) + "dns:\n  forwarders: [10.20.0.53, 10.20.0.300]\n", 8, 28,
                 "expected ADDRESS[:PORT], got '10.20.0.300'");
  }
  SECTION("bad interface address: no prefix length") {
    expect_error("lan:\n  interface: lan0\n  address: 10.20.0.1\nvendor: {profile: lab}\n", 3, 12,
                 "expected an interface address with prefix length");
  }
  SECTION("prefix with host bits set") {
    expect_error("lan:\n  interface: lan0\n  address: 10.20.0.1/24\n  client_subnets: [10.20.0.1/24]\n"
                 "vendor: {profile: lab}\n",
                 4, 20, "has host bits set (did you mean 10.20.0.0/24?)");
  }
  SECTION("overlapping client subnets") {
    expect_error("lan:\n  interface: lan0\n  address: 10.20.0.1/24\n  client_subnets:\n"
                 "    - 10.20.0.0/24\n    - 10.20.0.128/25\nvendor: {profile: lab}\n",
                 6, 7, "10.20.0.128/25 overlaps 10.20.0.0/24 (at t.yaml:5:7)");
  }
  SECTION("vendor prefix overlapping the LAN") {
    expect_error(std::string(kValid) + "  prefixes: [10.0.0.0/8]\n", 7, 14,
                 "vendor prefix 10.0.0.0/8 overlaps LAN client subnet 10.20.0.0/25");
  }
  SECTION("media ports overlapping a listener") {
    expect_error(std::string(kValid) + "media:\n  lan_ports: 5000-6000\n", 8, 14,
                 "media.lan_ports 5000-6000 overlaps sip.udp_port 5060");
  }
  SECTION("missing certificate file") {
    expect_error(std::string(kValid) + "tls:\n  wss_certificate: /nonexistent/wss.pem\n", 8, 20,
                 "cannot read file '/nonexistent/wss.pem'");
  }
  SECTION("unknown vendor profile") {
    expect_error("lan: {interface: lan0, address: 10.20.0.1/24}\nvendor:\n  profile: axialis\n", 3, 12,
                 "unknown vendor profile 'axialis' (available: aeta, axialys, genesys, lab, webex)");
  }
  SECTION("port out of range") {
    expect_error(std::string(kValid) + "sip:\n  udp_port: 70000\n", 8, 13, "70000 is out of range (1-65535)");
  }
  SECTION("reversed port range") {
    expect_error(std::string(kValid) + "media:\n  uplink_ports: 40000-30000\n", 8, 17,
                 "expected a port or FIRST-LAST range");
  }
  SECTION("value not among the choices") {
    expect_error(std::string(kValid) + "management:\n  log_level: loud\n", 8, 14,
                 "'loud' is not one of: emerg, alert, crit, err, warning, notice, info, debug");
  }
  SECTION("missing required key") {
    expect_error("lan:\n  interface: lan0\nvendor: {profile: lab}\n", 2, 3, "lan: missing required key 'address'");
  }
  SECTION("duplicate key") {
    expect_error(std::string(kValid) + "dns:\n  ttl: 30\n  ttl: 60\n", 9, 3, "duplicate key 'ttl' in dns");
  }
  SECTION("VLAN id out of range") {
    expect_error(std::string(kValid) +
                     "uplinks:\n  primary:\n    interface: wanp0\n    vlan: 4095\n    address: 198.51.100.1/30\n"
                     "    gateway: 198.51.100.2\n",
                 10, 11, "4095 is out of range (1-4094)");
  }
  SECTION("gateway outside the uplink prefix") {
    expect_error(std::string(kValid) +
                     "uplinks:\n  primary:\n    interface: wanp0\n    address: 198.51.100.1/30\n"
                     "    gateway: 198.51.100.9\n",
                 11, 14, "198.51.100.9 is not in 198.51.100.0/30");
  }
  SECTION("invalid DNS name in the vendor patterns") {
    expect_error(std::string(kValid) + "  fqdns: [good.example, bad..example]\n", 7, 25,
                 "not a valid DNS name: 'bad..example'");
  }
  SECTION("YAML syntax error") {
    expect_error(std::string(kValid) + "dns: [\n", 8, 1, "YAML syntax error");
  }
  SECTION("a section of the wrong shape") {
    expect_error(std::string(kValid) + "dns: 53\n", 7, 6, "dns must be a mapping, not a scalar");
  }
}

TEST_CASE("all mistakes in a file are reported in one pass", "[daemon][config]") {
  auto r = load(std::string(kValid) + "dns:\n  ttll: 1\nsip:\n  udp_port: 0\nmanagement:\n  log_level: x\n");
  REQUIRE_FALSE(r.config);
  CHECK(r.errors.size() == 3);
}

TEST_CASE("errors in a profile name the profile file", "[daemon][config]") {
  auto r = load_config_text("lan: {interface: lan0, address: 10.20.0.1/24}\nvendor: {profile: lab}\n", "t.yaml",
                            LoadOptions{OUTPOST_SOURCE_DIR "/tests/unit/daemon/bad_profiles"});
  REQUIRE_FALSE(r.config);
  INFO(r.errors.to_string());
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors.list()[0].file.find("bad_profiles/lab.yaml") != std::string::npos);
  CHECK(r.errors.list()[0].line == 3);
  CHECK(r.errors.list()[0].message.find("unknown key 'fqdn'") != std::string::npos);
}
