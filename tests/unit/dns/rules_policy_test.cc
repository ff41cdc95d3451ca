#include <catch2/catch.hpp>

#include "daemon/config_loader.h"
#include "dns/policy.h"
#include "tests/unit/dns/dns_test_util.h"

using namespace outpost;
using namespace outpost::dns;
using namespace outpost::dns::test;

namespace {
WireName name(std::string_view text) { return *WireName::from_text(text); }
RewriteTarget lan() { return {boost::asio::ip::make_address_v4("10.20.0.1"), std::nullopt}; }
Prefix prefix(std::string_view text) { return *parse_prefix(text).prefix; }

std::shared_ptr<const Policy> lab_policy() {
  RuleSet rules;
  REQUIRE(rules.add("vendor.example", lan(), "vendor profile lab"));
  REQUIRE(rules.add("*.vendor.example", lan(), "vendor profile lab"));
  REQUIRE(rules.add("*.cdn.vendor.example", {boost::asio::ip::make_address_v4("10.20.0.9"), std::nullopt}, "x"));
  return std::make_shared<Policy>(std::vector<Prefix>{prefix("10.20.0.0/25")}, std::move(rules), 30,
                                  std::vector<Prefix>{prefix("203.0.113.0/24")});
}

Decision decide(const Policy& p, const Bytes& b, std::string_view client = "10.20.0.10", bool admitted = true) {
  ParsedQuery q;
  parse_query(b, q);
  return p.decide(q, *parse_address(client), admitted);
}
}  // namespace

TEST_CASE("exact and wildcard rules: case, trailing dot, apex", "[dns][rules]") {
  ExactNameRule exact(name("sip.vendor.example"), lan(), "test");
  CHECK(exact.matches(name("SIP.Vendor.Example.")));
  CHECK(!exact.matches(name("x.sip.vendor.example")));
  CHECK(!exact.matches(name("vendor.example")));

  WildcardNameRule wild(name("vendor.example"), lan(), "test");
  CHECK(wild.matches(name("a.vendor.example")));
  CHECK(wild.matches(name("A.B.C.Vendor.Example.")));
  CHECK_FALSE(wild.matches(name("vendor.example")));     // the apex is not below itself
  CHECK_FALSE(wild.matches(name("xvendor.example")));    // label boundary
  CHECK_FALSE(wild.matches(name("vendor.example.com")));
  CHECK(wild.to_string() == "*.vendor.example -> A 10.20.0.1, AAAA nodata, HTTPS/SVCB nodata (test)");
  CHECK(exact.pattern() == "sip.vendor.example");
}

TEST_CASE("RuleSet picks the most specific rule", "[dns][rules]") {
  RuleSet rules;
  REQUIRE(rules.add("*.Example.COM.", lan(), "profile"));
  REQUIRE(rules.add("*.deep.example.com", lan(), "profile"));
  REQUIRE(rules.add("www.deep.example.com", lan(), "profile"));
  CHECK(rules.find(name("a.example.com"))->pattern() == "*.example.com");
  CHECK(rules.find(name("a.deep.example.com"))->pattern() == "*.deep.example.com");
  CHECK(rules.find(name("x.y.deep.example.com"))->pattern() == "*.deep.example.com");
  CHECK(rules.find(name("deep.example.com"))->pattern() == "*.example.com");
  CHECK(rules.find(name("WWW.deep.example.com"))->pattern() == "www.deep.example.com");
  CHECK(rules.find(name("example.com")) == nullptr);
  CHECK(rules.find(name("example.org")) == nullptr);
  CHECK(!rules.add("bad..name", lan(), "x"));
}

TEST_CASE("an override replaces the profile's rule for the same pattern", "[dns][rules]") {
  RuleSet rules;
  REQUIRE(rules.add("sip.vendor.example", lan(), "vendor profile lab"));
  REQUIRE(rules.add("SIP.vendor.example.", {std::nullopt, boost::asio::ip::make_address_v6("2001:db8::5")},
                    "dns.overrides"));
  REQUIRE(rules.size() == 1);
  const NameRule* r = rules.find(name("sip.vendor.example"));
  CHECK(r->origin() == "dns.overrides");
  CHECK(!r->target().v4);
  CHECK(r->target().v6->to_string() == "2001:db8::5");
}

TEST_CASE("policy decisions, in order", "[dns][policy]") {
  auto p = lab_policy();
  SECTION("vendor names are rewritten") {
    auto d = decide(*p, query("Sip.Vendor.Example", qtype::A));
    CHECK(d.verdict == Verdict::rewrite);
    CHECK(d.rule->pattern() == "*.vendor.example");
    CHECK(decide(*p, query("vendor.example", qtype::AAAA)).rule->pattern() == "vendor.example");
    CHECK(decide(*p, query("x.cdn.vendor.example", qtype::HTTPS)).rule->pattern() == "*.cdn.vendor.example");
    CHECK(decide(*p, query("a.vendor.example", qtype::ANY)).verdict == Verdict::rewrite);
  }
  SECTION("other names are forwarded; ANY gets the RFC 8482 answer") {
    CHECK(decide(*p, query("host1.corp.example", qtype::A)).verdict == Verdict::forward);
    CHECK(decide(*p, query("host1.corp.example", qtype::ANY)).verdict == Verdict::minimal_any);
  }
  SECTION("clients outside the LAN subnets are refused, whatever they ask") {
    CHECK(decide(*p, query("sip.vendor.example", qtype::A), "10.20.0.200").verdict == Verdict::refuse_client);
    CHECK(decide(*p, query("sip.vendor.example", qtype::A), "198.51.100.1").verdict == Verdict::refuse_client);
    CHECK(decide(*p, query("a", qtype::A), "2001:db8::1").verdict == Verdict::refuse_client);
    CHECK(decide(*p, header_only(), "198.51.100.1").verdict == Verdict::refuse_client);
  }
  SECTION("the rate limiter's no drops before anything else is looked at") {
    CHECK(decide(*p, query("sip.vendor.example", qtype::A), "10.20.0.10", false).verdict == Verdict::rate_limited);
  }
  SECTION("unanswerable packets are dropped") {
    CHECK(decide(*p, Bytes(5, 0)).verdict == Verdict::drop);
    auto resp = query("a.example", qtype::A);
    resp[2] |= 0x80;
    CHECK(decide(*p, resp).verdict == Verdict::drop);
  }
  SECTION("malformed queries get FORMERR") {
    CHECK(decide(*p, header_only()).verdict == Verdict::formerr);
    Packet two_opt;
    two_opt.question("a.example", qtype::A).opt().opt();
    CHECK(decide(*p, two_opt.bytes).verdict == Verdict::formerr);
    CHECK(decide(*p, query("a.example", qtype::OPT)).verdict == Verdict::formerr);
  }
  SECTION("opcodes and question counts we do not serve get NOTIMP") {
    Packet notify(0x1234, 0x2000);  // opcode 4
    notify.question("a.example", qtype::SOA);
    CHECK(decide(*p, notify.bytes).verdict == Verdict::notimp);
    Packet two;
    two.question("a.example", qtype::A).question("b.example", qtype::A);
    CHECK(decide(*p, two.bytes).verdict == Verdict::notimp);
  }
  SECTION("EDNS versions other than 0 get BADVERS") {
    Packet v1;
    v1.question("a.example", qtype::A).opt(1232, false, 1);
    CHECK(decide(*p, v1.bytes).verdict == Verdict::badvers);
  }
  SECTION("classes other than IN and zone transfers are refused, even for vendor names") {
    Packet ch;
    ch.question("version.bind", qtype::TXT, qclass::CH);
    CHECK(decide(*p, ch.bytes).verdict == Verdict::refuse);
    Packet any;
    any.question("sip.vendor.example", qtype::A, qclass::ANY);
    CHECK(decide(*p, any.bytes).verdict == Verdict::refuse);
    CHECK(decide(*p, query("vendor.example", qtype::AXFR)).verdict == Verdict::refuse);
    CHECK(decide(*p, query("vendor.example", qtype::IXFR)).verdict == Verdict::refuse);
  }
}

TEST_CASE("the policy built from a config: vendor names, overrides, LAN IPv6", "[dns][policy]") {
  auto loaded = config::load_config_text(R"(
lan:
  interface: lan0
  address: 10.20.0.1/24
  address6: 2001:db8:20::1/64
  client_subnets: [10.20.0.0/25]
vendor:
  profile: lab
dns:
  ttl: 45
  overrides:
    special.corp.example: 192.0.2.99
    "*.v6.example": 2001:db8::99
)",
                                         "test.yaml", {OUTPOST_SOURCE_DIR "/daemon/profiles"});
  REQUIRE(loaded.config);
  auto p = Policy::from_config(*loaded.config);
  REQUIRE(p);
  const Policy& policy = **p;
  CHECK(policy.ttl() == 45);
  const NameRule* r = policy.rules().find(name("www.vendor.example"));
  REQUIRE(r);
  CHECK(r->target().v4->to_string() == "10.20.0.1");
  CHECK(r->target().v6->to_string() == "2001:db8:20::1");
  CHECK(policy.rules().find(name("special.corp.example"))->target().v4->to_string() == "192.0.2.99");
  CHECK(!policy.rules().find(name("a.v6.example"))->target().v4);
  CHECK(policy.client_allowed(*parse_address("10.20.0.10")));
  CHECK(!policy.client_allowed(*parse_address("10.20.0.200")));
  CHECK(policy.client_allowed(*parse_address("::ffff:10.20.0.10")));
  CHECK(policy.in_vendor_prefixes(*parse_address("203.0.113.20")));
  CHECK(!policy.in_vendor_prefixes(*parse_address("198.51.100.20")));
}
