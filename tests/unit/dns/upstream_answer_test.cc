#include <catch2/catch.hpp>

#include <algorithm>

#include "dns/upstream_answer.h"
#include "tests/unit/dns/dns_test_util.h"

using namespace outpost;
using namespace outpost::dns;
using namespace outpost::dns::test;

namespace {

std::shared_ptr<const Policy> policy() {
  RuleSet rules;
  RewriteTarget lan{boost::asio::ip::make_address_v4("10.20.0.1"), std::nullopt};
  REQUIRE(rules.add("vendor.example", lan, "lab"));
  REQUIRE(rules.add("*.vendor.example", lan, "lab"));
  return std::make_shared<Policy>(std::vector<Prefix>{*parse_prefix("10.20.0.0/25").prefix}, std::move(rules), 30,
                                  std::vector<Prefix>{*parse_prefix("203.0.113.0/24").prefix});
}

// What libunbound hands back: ID 0, QR RD RA, our lower-case question, OPT last.
Packet upstream(std::string_view qname, uint16_t type, uint16_t rcode = 0) {
  Packet p(0, static_cast<uint16_t>(0x8180 | rcode));
  p.question(qname, type);
  return p;
}

struct Prepared {
  PreparedAnswer a;
  bool ok;
  RecordReader reader;
  std::vector<RecordView> records;
};

Prepared prepare(const Bytes& packet, std::string_view qname, uint16_t type, bool client_do = false) {
  static auto p = policy();
  Prepared out;
  WireName n = *WireName::from_text(qname);
  out.ok = prepare_upstream_answer(packet, {n, type, qclass::IN, client_do}, *p, out.a);
  if (out.ok) {
    REQUIRE(out.reader.open(out.a.packet) == WireError::none);
    RecordView rr;
    while (out.reader.next(rr)) out.records.push_back(rr);
    REQUIRE(out.reader.error() == WireError::none);
  }
  return out;
}

bool contains(const Bytes& hay, const Bytes& needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

Bytes svcb(uint16_t priority, std::string_view target, std::initializer_list<std::pair<uint16_t, Bytes>> params) {
  Bytes r;
  put_u16(r, priority);
  auto t = wire_name(target);
  r.insert(r.end(), t.begin(), t.end());
  for (const auto& [key, value] : params) {
    put_u16(r, key), put_u16(r, static_cast<uint16_t>(value.size()));
    r.insert(r.end(), value.begin(), value.end());
  }
  return r;
}

const Bytes kAlpn = {2, 'h', '2'};

}  // namespace

TEST_CASE("an ordinary answer passes as is, minus OPT", "[dns][upstream]") {
  auto p = upstream("host1.corp.example", qtype::A);
  p.rr(1, "@", qtype::A, 3600, v4(10, 1, 0, 1)).opt(1232, true);
  auto r = prepare(p.bytes, "host1.corp.example", qtype::A);
  REQUIRE(r.ok);
  CHECK(!r.a.rewritten);
  CHECK(r.a.cacheable);
  CHECK(r.a.min_ttl == 3600);
  CHECK(r.a.packet.size() == p.bytes.size() - kOptRecordSize);
  CHECK(r.reader.header().arcount == 0);
  CHECK(r.reader.header().flags == (flag::qr | flag::ra));  // RD is the client's business
  REQUIRE(r.records.size() == 1);
  CHECK(r.a.ttl_offsets == std::vector<uint16_t>{static_cast<uint16_t>(r.records[0].ttl_offset)});
}

TEST_CASE("a CNAME chain into a vendor name ends at outpost's LAN address", "[dns][upstream]") {
  auto p = upstream("www.corp.example", qtype::A);
  p.rr(1, "@", qtype::CNAME, 300, wire_name("alias.corp.example"))
      .rr(1, "alias.corp.example", qtype::CNAME, 200, wire_name("SIP.vendor.example"))
      .rr(1, "sip.vendor.example", qtype::A, 60, v4(203, 0, 113, 10))
      .rr(2, "vendor.example", qtype::NS, 3600, wire_name("ns.vendor.example"))
      .rr(3, "ns.vendor.example", qtype::A, 3600, v4(203, 0, 113, 53))
      .opt();
  auto r = prepare(p.bytes, "www.corp.example", qtype::A);
  REQUIRE(r.ok);
  CHECK(r.a.rewritten);
  CHECK(r.a.rcode == 0);
  const Header& h = r.reader.header();
  CHECK(h.ancount == 3);
  CHECK(h.nscount == 0);
  CHECK(h.arcount == 0);
  CHECK(!h.has(flag::aa));
  REQUIRE(r.records.size() == 3);
  CHECK(r.records[0].type == qtype::CNAME);
  CHECK(r.records[0].owner.to_text() == "www.corp.example");
  CHECK(r.records[1].type == qtype::CNAME);
  CHECK(r.records[2].type == qtype::A);
  CHECK(r.records[2].owner.to_text() == "sip.vendor.example");
  CHECK(r.records[2].ttl == 30);
  CHECK(Bytes(r.a.packet.begin() + static_cast<long>(r.records[2].rdata_offset), r.a.packet.end()) == v4(10, 20, 0, 1));
  CHECK(!contains(r.a.packet, {203, 0, 113}));
  CHECK(r.a.min_ttl == 30);
  CHECK(r.a.ttl_offsets.size() == 3);
  CHECK(r.a.records_dropped == 3);
}

TEST_CASE("CNAME into the vendor zone: NXDOMAIN upstream, AAAA, compressed targets", "[dns][upstream]") {
  SECTION("NXDOMAIN for the vendor part becomes NOERROR with the rewrite") {
    auto p = upstream("pbx.corp.example", qtype::A, 3);
    p.rr(1, "@", qtype::CNAME, 300, wire_name("internal.vendor.example"))
        .rr(2, "vendor.example", qtype::SOA, 300, Bytes(22, 0));
    auto r = prepare(p.bytes, "pbx.corp.example", qtype::A);
    REQUIRE(r.ok);
    CHECK(r.a.rcode == 0);
    CHECK(r.reader.header().rcode() == 0);
    REQUIRE(r.records.size() == 2);
    CHECK(r.records[1].type == qtype::A);
  }
  SECTION("AAAA without a LAN IPv6 address: the chain, no address") {
    auto p = upstream("pbx.corp.example", qtype::AAAA);
    p.rr(1, "@", qtype::CNAME, 300, wire_name("sip.vendor.example"))
        .rr(1, "sip.vendor.example", qtype::AAAA, 60, Bytes{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7});
    auto r = prepare(p.bytes, "pbx.corp.example", qtype::AAAA);
    REQUIRE(r.ok);
    REQUIRE(r.records.size() == 1);
    CHECK(r.records[0].type == qtype::CNAME);
    CHECK(!contains(r.a.packet, {0x20, 0x01, 0x0d, 0xb8}));
  }
  SECTION("a CNAME target written as a compression pointer") {
    auto p = upstream("a.vendor-alias.example", qtype::A);
    // answer 1: owner ptr, CNAME -> "x" + pointer to "vendor.example" inside answer 2's owner
    p.rr(1, "sip.vendor.example", qtype::TXT, 5, {1, 'z'});  // puts "vendor.example" on the wire
    size_t vendor_name = 12 + wire_name("a.vendor-alias.example").size() + 4 + 4;  // "vendor.example" inside it
    Bytes rdata = {1, 'x', 0xC0, static_cast<uint8_t>(vendor_name)};
    p.rr(1, "@", qtype::CNAME, 300, rdata);
    auto r = prepare(p.bytes, "a.vendor-alias.example", qtype::A);
    REQUIRE(r.ok);
    CHECK(r.a.rewritten);
    REQUIRE(r.records.size() == 2);
    CHECK(r.records[1].owner.to_text() == "x.vendor.example");
  }
}

TEST_CASE("HTTPS/SVCB hints that would leak a vendor address are stripped", "[dns][upstream]") {
  SECTION("target is a vendor name") {
    auto p = upstream("app.corp.example", qtype::HTTPS);
    p.rr(1, "@", qtype::HTTPS, 300,
         svcb(1, "www.vendor.example", {{1, kAlpn}, {4, v4(203, 0, 113, 20)}, {6, Bytes(16, 0x20)}}));
    auto r = prepare(p.bytes, "app.corp.example", qtype::HTTPS);
    REQUIRE(r.ok);
    CHECK(r.a.hints_stripped == 2);
    REQUIRE(r.records.size() == 1);
    Bytes rdata(r.a.packet.begin() + static_cast<long>(r.records[0].rdata_offset), r.a.packet.end());
    CHECK(rdata == svcb(1, "www.vendor.example", {{1, kAlpn}}));
  }
  SECTION("a hint inside the vendor prefixes, whatever the target") {
    auto p = upstream("app.corp.example", qtype::HTTPS);
    p.rr(1, "@", qtype::HTTPS, 300, svcb(1, ".", {{4, Bytes{198, 51, 100, 1, 203, 0, 113, 9}}}));
    auto r = prepare(p.bytes, "app.corp.example", qtype::HTTPS);
    REQUIRE(r.ok);
    CHECK(r.a.hints_stripped == 1);
    CHECK(!contains(r.a.packet, {203, 0, 113}));
  }
  SECTION("hints for other addresses stay") {
    auto p = upstream("app.corp.example", qtype::HTTPS);
    p.rr(1, "@", qtype::HTTPS, 300, svcb(1, ".", {{1, kAlpn}, {4, v4(198, 51, 100, 1)}}));
    auto r = prepare(p.bytes, "app.corp.example", qtype::HTTPS);
    REQUIRE(r.ok);
    CHECK(r.a.hints_stripped == 0);
    CHECK(Bytes(r.a.packet.begin() + 4, r.a.packet.end()) == Bytes(p.bytes.begin() + 4, p.bytes.end()));
  }
  SECTION("HTTPS through a CNAME into the vendor zone: the chain, no data") {
    auto p = upstream("app.corp.example", qtype::HTTPS);
    p.rr(1, "@", qtype::CNAME, 300, wire_name("www.vendor.example"))
        .rr(1, "www.vendor.example", qtype::HTTPS, 300, svcb(1, ".", {{4, v4(203, 0, 113, 20)}}));
    auto r = prepare(p.bytes, "app.corp.example", qtype::HTTPS);
    REQUIRE(r.ok);
    REQUIRE(r.records.size() == 1);
    CHECK(r.records[0].type == qtype::CNAME);
    CHECK(!contains(r.a.packet, {203, 0, 113}));
  }
}

TEST_CASE("vendor-owned records elsewhere are dropped; DNSSEC records only with DO", "[dns][upstream]") {
  SECTION("glue for a vendor MX target") {
    auto p = upstream("corp.example", qtype::MX);
    Bytes mx = {0, 10};
    auto target = wire_name("mx.vendor.example");
    mx.insert(mx.end(), target.begin(), target.end());
    p.rr(1, "@", qtype::MX, 300, mx).rr(3, "mx.vendor.example", qtype::A, 300, v4(203, 0, 113, 25));
    auto r = prepare(p.bytes, "corp.example", qtype::MX);
    REQUIRE(r.ok);
    CHECK(r.a.rewritten);
    CHECK(r.reader.header().arcount == 0);
    REQUIRE(r.records.size() == 1);
    CHECK(r.records[0].type == qtype::MX);
    CHECK(!contains(r.a.packet, {203, 0, 113}));
  }
  SECTION("RRSIG") {
    auto p = upstream("host1.corp.example", qtype::A);
    p.rr(1, "@", qtype::A, 300, v4(10, 1, 0, 1)).rr(1, "@", qtype::RRSIG, 300, Bytes(30, 1));
    auto plain = prepare(p.bytes, "host1.corp.example", qtype::A, false);
    REQUIRE(plain.ok);
    CHECK(plain.records.size() == 1);
    CHECK(!plain.a.rewritten);
    auto with_do = prepare(p.bytes, "host1.corp.example", qtype::A, true);
    REQUIRE(with_do.ok);
    CHECK(with_do.records.size() == 2);
  }
}

TEST_CASE("unusable upstream packets", "[dns][upstream]") {
  SECTION("SERVFAIL as a bare header gets our question") {
    Packet p(0, 0x8182);
    auto r = prepare(p.bytes, "c1.corp.example", qtype::A);
    REQUIRE(r.ok);
    CHECK(r.a.rcode == 2);
    CHECK(!r.a.cacheable);
    CHECK(r.reader.qname().to_text() == "c1.corp.example");
  }
  SECTION("an answer to another question") {
    auto p = upstream("other.corp.example", qtype::A);
    CHECK(!prepare(p.bytes, "host1.corp.example", qtype::A).ok);
    auto q = upstream("host1.corp.example", qtype::AAAA);
    CHECK(!prepare(q.bytes, "host1.corp.example", qtype::A).ok);
  }
  SECTION("a record cut short") {
    auto p = upstream("host1.corp.example", qtype::A);
    p.rr(1, "@", qtype::A, 300, v4(10, 1, 0, 1));
    p.bytes.resize(p.bytes.size() - 2);
    CHECK(!prepare(p.bytes, "host1.corp.example", qtype::A).ok);
  }
  SECTION("a looping CNAME chain stops") {
    auto p = upstream("a.corp.example", qtype::A);
    p.rr(1, "@", qtype::CNAME, 300, wire_name("b.corp.example")).rr(1, "b.corp.example", qtype::CNAME, 300,
                                                                    wire_name("a.corp.example"));
    auto r = prepare(p.bytes, "a.corp.example", qtype::A);
    REQUIRE(r.ok);
    CHECK(!r.a.rewritten);
  }
}

// Both found by the fuzz test (fuzz_test.cc) before they were fixed.
TEST_CASE("upstream bytes that must not reach a client", "[dns][upstream]") {
  SECTION("bytes after the last record are not copied") {
    auto p = upstream("host1.corp.example", qtype::A);
    p.rr(1, "@", qtype::A, 3600, v4(10, 1, 0, 1));
    Bytes packet = p.bytes;
    packet.push_back(0xC0), packet.push_back(0x00);  // would read as a pointer once OPT follows
    auto r = prepare(packet, "host1.corp.example", qtype::A);
    REQUIRE(r.ok);
    CHECK(Bytes(r.a.packet.begin() + 4, r.a.packet.end()) == Bytes(p.bytes.begin() + 4, p.bytes.end()));
    CHECK(r.reader.position() == r.a.packet.size());
  }
  SECTION("an SVCB parameter list that overruns its record cannot hide a hint") {
    auto p = upstream("app.corp.example", qtype::HTTPS);
    Bytes rdata = svcb(1, ".", {{1, kAlpn}});
    rdata.insert(rdata.end(), {0x00, 0x04, 0x01, 0x00, 203, 0, 113, 20});  // ipv4hint claiming 256 octets
    p.rr(1, "@", qtype::HTTPS, 300, rdata);
    auto r = prepare(p.bytes, "app.corp.example", qtype::HTTPS);
    CHECK((!r.ok || !contains(r.a.packet, {203, 0, 113})));
  }
}
