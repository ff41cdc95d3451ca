// Mutation fuzzing, run as an ordinary unit test with a fixed seed: hostile variants of real
// queries and upstream answers go through the parser, the whole query path and the
// upstream-answer rewrite. Whatever comes in, nothing reads out of bounds (run the unit
// tests under ASan to see it), every reply we build parses back cleanly, and no vendor
// name is ever answered with anything but the LAN address.
#include <catch2/catch.hpp>

#include <random>

#include "dns/query_engine.h"
#include "dns/rr_text.h"
#include "dns/upstream_answer.h"
#include "tests/unit/dns/dns_test_util.h"

using namespace outpost;
using namespace outpost::dns;
using namespace outpost::dns::test;
namespace asio = boost::asio;

namespace {

std::shared_ptr<const Policy> policy() { return lab_policy("10.0.0.0/8", {"vendor.example", "*.vendor.example"}); }

std::vector<Bytes> query_corpus() {
  std::vector<Bytes> c;
  c.push_back(query("sip.vendor.example", qtype::A, true));
  c.push_back(query("Host1.Corp.Example", qtype::AAAA));
  c.push_back(query("a.b.c.d.vendor.example", qtype::HTTPS, true));
  c.push_back(query("x.example", qtype::ANY));
  Packet two;
  two.question("a.example", qtype::A).question("b.vendor.example", qtype::A).opt();
  c.push_back(two.bytes);
  Packet opt;
  opt.question("a.example", qtype::TXT).opt(4096, true, 0, {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8});
  c.push_back(opt.bytes);
  return c;
}

std::vector<Bytes> upstream_corpus() {
  std::vector<Bytes> c;
  Packet chain(0, 0x8180);
  chain.question("www.corp.example", qtype::A)
      .rr(1, "@", qtype::CNAME, 300, wire_name("alias.corp.example"))
      .rr(1, "alias.corp.example", qtype::CNAME, 300, wire_name("sip.vendor.example"))
      .rr(1, "sip.vendor.example", qtype::A, 60, v4(203, 0, 113, 10))
      .rr(2, "vendor.example", qtype::NS, 300, wire_name("ns.vendor.example"))
      .rr(3, "ns.vendor.example", qtype::A, 300, v4(203, 0, 113, 53))
      .opt();
  c.push_back(chain.bytes);
  Packet https(0, 0x8180);
  Bytes svcb = {0, 1};
  auto t = wire_name("www.vendor.example");
  svcb.insert(svcb.end(), t.begin(), t.end());
  svcb.insert(svcb.end(), {0, 1, 0, 3, 2, 'h', '2', 0, 4, 0, 4, 203, 0, 113, 20});
  https.question("www.corp.example", qtype::A).rr(1, "@", qtype::HTTPS, 300, svcb);
  c.push_back(https.bytes);
  Packet mx(0, 0x8180);
  Bytes mxr = {0, 10, 4, 'm', 'a', 'i', 'l', 0xC0, 12};
  mx.question("www.corp.example", qtype::A).rr(1, "@", qtype::MX, 300, mxr).rr(3, "mail.www.corp.example", qtype::A, 5,
                                                                                  v4(203, 0, 113, 9));
  c.push_back(mx.bytes);
  return c;
}

Bytes mutate(const Bytes& in, std::mt19937& rng) {
  Bytes b = in;
  auto pick = [&](size_t n) { return n ? std::uniform_int_distribution<size_t>(0, n - 1)(rng) : 0; };
  int edits = 1 + static_cast<int>(pick(4));
  for (int e = 0; e < edits; ++e) {
    switch (pick(6)) {
      case 0: if (!b.empty()) b[pick(b.size())] = static_cast<uint8_t>(rng()); break;
      case 1: if (!b.empty()) b.resize(pick(b.size())); break;
      case 2: b.insert(b.begin() + static_cast<long>(pick(b.size() + 1)), static_cast<uint8_t>(rng())); break;
      case 3:  // a compression pointer anywhere
        if (b.size() > 2) {
          size_t at = pick(b.size() - 1);
          b[at] = static_cast<uint8_t>(0xC0 | (rng() & 1)), b[at + 1] = static_cast<uint8_t>(rng());
        }
        break;
      case 4: if (b.size() > 12) b[4 + pick(8)] = static_cast<uint8_t>(pick(4)); break;  // counts
      case 5: if (!b.empty()) b[pick(b.size())] = static_cast<uint8_t>(pick(70)); break;  // label lengths
    }
  }
  return b;
}

std::string hex(const Bytes& b) {
  std::string s;
  char t[3];
  for (uint8_t c : b) std::snprintf(t, sizeof t, "%02x", c), s += t;
  return s;
}

// Every record parses; A records owned by vendor names carry the LAN address only.
void check_reply(std::span<const uint8_t> reply, const Policy& p) {
  RecordReader r;
  REQUIRE(r.open(reply) == WireError::none);
  RecordView rr;
  while (r.next(rr)) {
    if (rr.type == qtype::A && p.rules().find(rr.owner)) {
      REQUIRE(rr.rdlength == 4);
      CHECK(get32(reply.data() + rr.rdata_offset) == 0x0A140001);
    }
    (void)rdata_text(reply, rr);
  }
  REQUIRE(r.error() == WireError::none);
  REQUIRE(r.position() == reply.size());  // no trailing bytes copied from upstream
  (void)message_json(reply);
}

}  // namespace

TEST_CASE("fuzz: hostile queries through the whole query path", "[dns][fuzz]") {
  asio::io_context io;
  MetricsRegistry metrics;
  MemoryLogSink log;
  QueryEngine engine(io, Logger(log, "dns"), metrics);
  engine.set_policy(policy());
  std::mt19937 rng(20261123);
  auto corpus = query_corpus();
  Bytes buf(8192);
  Client client{*parse_address("10.1.2.3"), {}, false};
  for (int i = 0; i < 30000; ++i) {
    Bytes q = mutate(corpus[static_cast<size_t>(i) % corpus.size()], rng);
    if (q.size() > 4096) q.resize(4096);
    std::copy(q.begin(), q.end(), buf.begin());
    std::fill(buf.begin() + static_cast<long>(q.size()), buf.end(), 0xEE);
    client.tcp = (i & 1) != 0;
    Handled h = engine.handle(buf.data(), q.size(), buf.size(), client, nullptr);
    REQUIRE(h.length <= (client.tcp ? 65535u : 1232u));
    if (h.length) check_reply({buf.data(), h.length}, engine.policy());
  }
  CHECK(metrics.value("outpost_dns_queries_total") == 30000);
}

TEST_CASE("fuzz: hostile upstream answers through the rewrite", "[dns][fuzz]") {
  auto p = policy();
  std::mt19937 rng(42);
  auto corpus = upstream_corpus();
  WireName qname = *WireName::from_text("www.corp.example");
  int usable = 0;
  for (int i = 0; i < 30000; ++i) {
    Bytes u = mutate(corpus[static_cast<size_t>(i) % corpus.size()], rng);
    for (bool client_do : {false, true}) {
      PreparedAnswer a;
      INFO("upstream " << hex(u));  // a failure names its input
      if (!prepare_upstream_answer(u, {qname, qtype::A, qclass::IN, client_do}, *p, a)) continue;
      ++usable;
      check_reply(a.packet, *p);
      for (uint16_t off : a.ttl_offsets) REQUIRE(off + 4u <= a.packet.size());
      // Served to a client: still a clean reply.
      ParsedQuery q;
      Bytes cq = query("WWW.corp.example", qtype::A, true);
      parse_query(cq, q);
      Bytes out(8192);
      size_t n = serve_prepared(out.data(), out.size(), a, q, cq.data() + kHeaderSize, 7, 1232, nullptr);
      INFO("served " << hex(Bytes(out.begin(), out.begin() + static_cast<long>(n))));
      if (n) check_reply({out.data(), n}, *p);
    }
  }
  CHECK(usable > 0);
}
