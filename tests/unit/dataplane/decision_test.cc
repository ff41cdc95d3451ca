#include <catch2/catch.hpp>

#include "common/name_match.h"
#include "dataplane/client_limiter.h"
#include "dataplane/decision.h"

using namespace outpost;
using namespace outpost::dataplane;

namespace {

RoutingPolicy lab_policy() {
  config::Config c;
  c.vendor.fqdns = {"vendor.example", "*.vendor.example", "api.other.example"};
  c.vendor.default_host = "www.vendor.example";
  c.vendor.wss_fqdn = "WSS.vendor.example";
  auto p = RoutingPolicy::from_config(c);
  REQUIRE(p);
  return std::move(*p);
}

ClientHello hello(std::optional<std::string> sni, HelloStatus s = HelloStatus::ok) { return {s, std::move(sni), ""}; }

HttpHead http(std::optional<std::string> host, std::string target = "/x") {
  HttpHead h;
  h.status = HttpHeadStatus::ok;
  h.method = "GET";
  h.target = std::move(target);
  h.host = std::move(host);
  return h;
}

}  // namespace

TEST_CASE("vendor name patterns: exact, wildcard, case, trailing dot", "[dataplane][names]") {
  NamePatternSet s;
  REQUIRE(s.add("vendor.example"));
  REQUIRE(s.add("*.vendor.example"));
  REQUIRE(s.add("*.deep.vendor.example"));
  REQUIRE(s.add("api.other.example."));
  CHECK_FALSE(s.add("bad..name"));
  CHECK_FALSE(s.add("*."));
  CHECK(s.match("vendor.example") == "vendor.example");
  CHECK(s.match("WWW.Vendor.Example.") == "*.vendor.example");
  CHECK(s.match("x.y.vendor.example") == "*.vendor.example");
  CHECK(s.match("a.deep.vendor.example") == "*.deep.vendor.example");
  CHECK(s.match("api.other.example") == "api.other.example");
  CHECK_FALSE(s.match("other.example"));
  CHECK_FALSE(s.match("x.api.other.example"));
  CHECK_FALSE(s.match("evilvendor.example"));
  CHECK_FALSE(s.match("vendor.example.evil.example"));
  CHECK_FALSE(s.match(std::string("www.vendor.example\0.evil", 24)));
  CHECK_FALSE(s.match(""));
  CHECK(s.patterns().size() == 4);
}

TEST_CASE("TLS decisions", "[dataplane][decision]") {
  RoutingPolicy p = lab_policy();
  SECTION("a vendor SNI passes through to that name") {
    auto d = decide_tls(p, hello("App.Vendor.Example"), false);
    CHECK(d.action == Action::passthrough);
    CHECK(d.host == "app.vendor.example");
    CHECK(d.pattern == "*.vendor.example");
  }
  SECTION("a non-vendor SNI is reset") {
    auto d = decide_tls(p, hello("www.google.example"), false);
    CHECK(d.action == Action::reset);
    CHECK(d.refusal == Refusal::non_vendor_sni);
  }
  SECTION("an SNI that is no host name") {
    auto d = decide_tls(p, hello(std::string("www.vendor.example\0", 19)), false);
    CHECK(d.refusal == Refusal::invalid_sni);
    CHECK(decide_tls(p, hello("10.20.0.1"), false).refusal == Refusal::non_vendor_sni);
  }
  SECTION("no SNI goes to the default host, or is reset without one") {
    auto d = decide_tls(p, hello(std::nullopt), false);
    CHECK(d.action == Action::passthrough);
    CHECK(d.host == "www.vendor.example");
    CHECK(d.pattern == "default_host");
    p.default_host.clear();
    CHECK(decide_tls(p, hello(std::nullopt), false).refusal == Refusal::no_sni);
  }
  SECTION("the WSS name is handed over only when a handler is registered") {
    CHECK(decide_tls(p, hello("wss.vendor.example"), false).action == Action::passthrough);
    CHECK(decide_tls(p, hello("wss.vendor.example"), true).action == Action::wss_handoff);
    CHECK(decide_tls(p, hello("www.vendor.example"), true).action == Action::passthrough);
  }
  SECTION("non-TLS bytes go to TURN if configured") {
    CHECK(decide_tls(p, hello(std::nullopt, HelloStatus::not_tls), false).refusal == Refusal::not_tls);
    p.turn = Endpoint{*parse_address("203.0.113.40"), 443};
    CHECK(decide_tls(p, hello(std::nullopt, HelloStatus::not_tls), false).action == Action::turn);
  }
  SECTION("broken hellos") {
    CHECK(decide_tls(p, hello(std::nullopt, HelloStatus::malformed), false).refusal == Refusal::malformed_hello);
    CHECK(decide_tls(p, hello(std::nullopt, HelloStatus::too_large), false).refusal == Refusal::hello_too_large);
    CHECK(decide_tls(p, hello(std::nullopt, HelloStatus::need_more), false).refusal == Refusal::closed_early);
  }
}

TEST_CASE("HTTP decisions", "[dataplane][decision]") {
  RoutingPolicy p = lab_policy();
  CHECK(decide_http(p, http("www.vendor.example")).action == Action::passthrough);
  CHECK(decide_http(p, http("www.evil.example")).refusal == Refusal::non_vendor_host);
  CHECK(decide_http(p, http("[2001:db8::1]")).refusal == Refusal::non_vendor_host);
  CHECK(decide_http(p, http(std::nullopt)).host == "www.vendor.example");
  p.http_redirect = true;
  auto d = decide_http(p, http("app.vendor.example"));
  CHECK(d.action == Action::redirect);
  CHECK(d.host == "app.vendor.example");
  p.default_host.clear();
  CHECK(decide_http(p, http(std::nullopt)).refusal == Refusal::no_host);
  HttpHead bad;
  bad.status = HttpHeadStatus::malformed;
  CHECK(decide_http(p, bad).refusal == Refusal::malformed_http);
}

TEST_CASE("per-client connection rate", "[dataplane][limits]") {
  ClientRateLimiter l(3, 2);
  auto a = *parse_address("10.20.0.10"), b = *parse_address("10.20.0.11"), c = *parse_address("10.20.0.12");
  CHECK(l.admit(a, 1000));
  CHECK(l.admit(a, 1000));
  CHECK(l.admit(a, 1000));
  CHECK_FALSE(l.admit(a, 1000));
  CHECK(l.admit(b, 1000));
  CHECK_FALSE(l.admit(c, 1000));   // table full, nobody refilled yet: refused, not grown
  CHECK(l.admit(a, 1334));         // a third of a second: one token back
  CHECK_FALSE(l.admit(a, 1334));
  CHECK(l.admit(c, 3000));         // refilled buckets are forgotten to make room
  CHECK(l.tracked() <= 2);
}
