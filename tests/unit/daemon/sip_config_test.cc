// The sip: section of outpost.yaml: defaults, the NAT keep-alive numbers, TLS files.
#include <catch2/catch.hpp>

#include "daemon/config_loader.h"

using namespace outpost;
using namespace outpost::config;

namespace {

LoadResult load(const std::string& text) {
  return load_config_text(text, "t.yaml", LoadOptions{OUTPOST_SOURCE_DIR "/daemon/profiles"});
}

const char* kBase =
    "lan:\n"
    "  interface: lan0\n"
    "  address: 10.20.0.1/24\n"
    "vendor:\n"
    "  profile: lab\n";

bool has_error(const LoadResult& r, int line, const std::string& fragment) {
  for (const auto& e : r.errors.list())
    if (e.line == line && e.message.find(fragment) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("sip: keep-alive defaults and overrides", "[daemon][config][sip]") {
  auto r = load(kBase);
  REQUIRE(r.config);
  CHECK(r.config->sip.device_expiry_s == 120);
  CHECK(r.config->sip.vendor_expiry_s == 3600);
  CHECK(r.config->sip.tls_port == 5061);
  CHECK(r.config->sip.tls_certificate.empty());

  r = load(std::string(kBase) + "sip:\n  device_expiry: 90\n  vendor_expiry: 7200\n");
  INFO(r.errors.to_string());
  REQUIRE(r.config);
  CHECK(r.config->sip.device_expiry_s == 90);
  CHECK(r.config->sip.vendor_expiry_s == 7200);
}

TEST_CASE("sip: the profile's registration_expiry is what outpost asks of the vendor", "[daemon][config][sip]") {
  const std::string genesys =
      "lan:\n  interface: lan0\n  address: 10.20.0.1/24\nvendor:\n  profile: genesys\n"
      "  prefixes: [203.0.113.0/24]\n  sip_servers: [203.0.113.10]\n";
  auto r = load(genesys);
  INFO(r.errors.to_string());
  REQUIRE(r.config);
  CHECK(r.config->vendor.registration_expiry_s == 140);
  CHECK(r.config->sip.vendor_expiry_s == 140);
  r = load(genesys + "sip:\n  vendor_expiry: 600\n");  // the config still decides
  REQUIRE(r.config);
  CHECK(r.config->sip.vendor_expiry_s == 600);
  r = load(std::string(kBase) + "  registration_expiry: 30\n");  // below the key's floor: 60
  REQUIRE(r.config);
  CHECK(r.config->sip.vendor_expiry_s == 60);
}

TEST_CASE("sip: out-of-range expiries and a lone TLS file are reported at their line", "[daemon][config][sip]") {
  auto r = load(std::string(kBase) + "sip:\n  vendor_expiry: 10\n");
  CHECK_FALSE(r.config);
  CHECK(has_error(r, 7, "vendor_expiry"));
  r = load(std::string(kBase) + "sip:\n  device_expiry: 5\n");
  CHECK_FALSE(r.config);
  CHECK(has_error(r, 7, "device_expiry"));
  r = load(std::string(kBase) + "sip:\n  tls_certificate: " OUTPOST_SOURCE_DIR "/README.md\n");
  CHECK_FALSE(r.config);
  CHECK(has_error(r, 7, "tls_certificate and tls_key go together"));
}

TEST_CASE("sip: the vendor over TLS/WSS: CA file, verification, WebSocket path", "[daemon][config][sip]") {
  auto r = load(kBase);
  REQUIRE(r.config);
  CHECK(r.config->sip.uplink_verify);
  CHECK(r.config->sip.uplink_ca.empty());  // the system's store
  const std::string servers = "  sip_servers:\n    - host: sip.vendor.example\n      transport: wss\n";
  r = load(std::string(kBase) + servers + "      path: /ws\nsip:\n  uplink_ca: " OUTPOST_SOURCE_DIR
                                          "/README.md\n  uplink_verify: false\n");
  INFO(r.errors.to_string());
  REQUIRE(r.config);
  CHECK(r.config->vendor.sip_servers.back().path == "/ws");
  CHECK(r.config->vendor.sip_servers.back().transport == "wss");
  CHECK(r.config->sip.uplink_ca == OUTPOST_SOURCE_DIR "/README.md");
  CHECK_FALSE(r.config->sip.uplink_verify);
  r = load(std::string(kBase) + servers + "      path: ws\n");
  CHECK_FALSE(r.config);
  CHECK(has_error(r, 9, "starts with '/'"));
  r = load(std::string(kBase) + "sip:\n  uplink_ca: /nonexistent/ca.pem\n");
  CHECK_FALSE(r.config);
  CHECK(has_error(r, 7, "uplink_ca"));
}

TEST_CASE("sip: connection limits and timeouts, idle above device_expiry", "[daemon][config][sip]") {
  auto r = load(kBase);
  REQUIRE(r.config);
  CHECK(r.config->sip.tls_handshake_timeout_s == 10);
  CHECK(r.config->sip.tcp_idle_timeout_s == 600);
  CHECK(r.config->sip.max_connections == 4096);
  CHECK(r.config->sip.max_connections_per_source == 32);

  r = load(std::string(kBase) +
           "sip:\n  tls_handshake_timeout: 5\n  tcp_idle_timeout: 300\n  max_connections: 100\n"
           "  max_connections_per_source: 4\n");
  INFO(r.errors.to_string());
  REQUIRE(r.config);
  CHECK(r.config->sip.tls_handshake_timeout_s == 5);
  CHECK(r.config->sip.tcp_idle_timeout_s == 300);
  CHECK(r.config->sip.max_connections == 100);
  CHECK(r.config->sip.max_connections_per_source == 4);

  // Unset, the idle timeout follows a long device_expiry (twice it), so the default never
  // cuts a device that refreshes as told.
  r = load(std::string(kBase) + "sip:\n  device_expiry: 900\n");
  REQUIRE(r.config);
  CHECK(r.config->sip.tcp_idle_timeout_s == 1800);

  r = load(std::string(kBase) + "sip:\n  tcp_idle_timeout: 120\n");  // = device_expiry
  CHECK_FALSE(r.config);
  CHECK(has_error(r, 7, "tcp_idle_timeout: must be larger than device_expiry (120 s)"));
  r = load(std::string(kBase) + "sip:\n  device_expiry: 300\n  tcp_idle_timeout: 200\n");
  CHECK_FALSE(r.config);
  CHECK(has_error(r, 8, "must be larger than device_expiry (300 s)"));
  for (const char* key : {"tls_handshake_timeout", "tcp_idle_timeout", "max_connections", "max_connections_per_source"}) {
    r = load(std::string(kBase) + "sip:\n  " + key + ": 0\n");
    INFO(key);
    CHECK_FALSE(r.config);
    CHECK(has_error(r, 7, key));
  }
}
