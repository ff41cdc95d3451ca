// The `tls:` section as the passthrough reads it: defaults, the relay engine, and the
// routing policy built from the lab profile.
#include <catch2/catch.hpp>

#include "daemon/config_loader.h"
#include "dataplane/decision.h"

using namespace outpost;
using namespace outpost::dataplane;

namespace {

config::LoadResult load(const std::string& tls_section) {
  return config::load_config_text(
      "lan:\n  interface: lan0\n  address: 10.20.0.1/24\n  client_subnets: [10.20.0.0/25]\n"
      "vendor:\n  profile: lab\n" +
          tls_section,
      "t.yaml", config::LoadOptions{OUTPOST_SOURCE_DIR "/daemon/profiles"});
}

}  // namespace

TEST_CASE("tls defaults and the lab profile's routing policy", "[dataplane][config]") {
  auto r = load("");
  REQUIRE(r.config);
  const auto& t = r.config->tls;
  CHECK(t.relay == "auto");
  CHECK(t.https_port == 443);
  CHECK(t.http_port == 80);
  CHECK(t.client_hello_timeout_ms == 5000);
  auto p = RoutingPolicy::from_config(*r.config);
  REQUIRE(p);
  CHECK(p->default_host == "www.vendor.example");
  CHECK(p->wss_fqdn == "wss.vendor.example");
  CHECK(p->vendor_names.match("app.vendor.example") == "*.vendor.example");
  CHECK(p->vendor_names.match("vendor.example") == "vendor.example");
  CHECK_FALSE(p->http_redirect);
}

TEST_CASE("tls.relay takes auto, copy or splice", "[dataplane][config]") {
  for (const char* mode : {"auto", "copy", "splice"}) {
    auto r = load(std::string("tls:\n  relay: ") + mode + "\n");
    REQUIRE(r.config);
    CHECK(r.config->tls.relay == mode);
  }
  auto bad = load("tls:\n  relay: sendfile\n");
  REQUIRE_FALSE(bad.config);
  CHECK(bad.errors.to_string().find("t.yaml:8:10") != std::string::npos);
}
