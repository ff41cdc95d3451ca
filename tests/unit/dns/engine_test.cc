// The query path end to end in-process: parse -> decide -> act -> count, with libunbound
// forwarding to a small fake upstream on 127.0.0.1.
#include <catch2/catch.hpp>

#include <boost/asio/ip/udp.hpp>
#include <chrono>

#include "dns/query_engine.h"
#include "tests/unit/dns/dns_test_util.h"

using namespace outpost;
using namespace outpost::dns;
using namespace outpost::dns::test;
namespace asio = boost::asio;

namespace {

std::shared_ptr<const Policy> policy() { return lab_policy("10.20.0.0/25", {"*.vendor.example"}); }

// Answers like an authoritative server for a few names.
class FakeUpstream {
 public:
  explicit FakeUpstream(asio::io_context& io) : socket_(io, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    receive();
  }
  uint16_t port() const { return socket_.local_endpoint().port(); }
  int queries = 0;

 private:
  void receive() {
    socket_.async_receive_from(asio::buffer(buf_), peer_, [this](boost::system::error_code ec, size_t n) {
      if (ec) return;
      ++queries;
      ParsedQuery q;
      parse_query({buf_.data(), n}, q);
      if (q.problem == QueryProblem::none) {
        Packet p(q.header.id, 0x8400 | (q.header.flags & 0x0100));
        std::string name = q.qname.to_text();
        p.question(name, q.qtype);
        if (name == "www.corp.example" && q.qtype == qtype::A) {
          p.rr(1, "@", qtype::CNAME, 300, wire_name("sip.vendor.example"))
              .rr(1, "sip.vendor.example", qtype::A, 300, v4(203, 0, 113, 10));
        } else if (name == "host1.corp.example" && q.qtype == qtype::A) {
          p.rr(1, "@", qtype::A, 300, v4(10, 1, 0, 1));
        } else {
          p.bytes[3] = static_cast<uint8_t>((p.bytes[3] & 0xF0) | 3);  // NXDOMAIN
          Bytes soa = wire_name("ns.corp.example");
          auto mbox = wire_name("hostmaster.corp.example");
          soa.insert(soa.end(), mbox.begin(), mbox.end());
          for (int i = 0; i < 5; ++i) put_u32(soa, 60);
          p.rr(2, "corp.example", qtype::SOA, 60, soa);
        }
        if (q.edns.present) p.opt(1232);
        socket_.send_to(asio::buffer(p.bytes), peer_);
      }
      receive();
    });
  }
  asio::ip::udp::socket socket_;
  asio::ip::udp::endpoint peer_;
  std::array<uint8_t, 2048> buf_{};
};

struct Collector : ReplyTarget {
  std::vector<Bytes> replies;
  bool send_reply(const asio::ip::udp::endpoint&, std::span<const uint8_t> r) override {
    replies.emplace_back(r.begin(), r.end());
    return true;
  }
};

struct Fixture {
  asio::io_context io;
  MetricsRegistry metrics;
  MemoryLogSink log_sink;
  QueryEngine engine{io, Logger(log_sink, "dns"), metrics};
  std::shared_ptr<Collector> target = std::make_shared<Collector>();
  Bytes buf = Bytes(8192);
  Fixture() { engine.set_policy(policy()); }

  Handled send(const Bytes& query, std::string_view client = "10.20.0.10", bool tcp = false) {
    std::copy(query.begin(), query.end(), buf.begin());
    Client c{*parse_address(client), {}, tcp};
    return engine.handle(buf.data(), query.size(), buf.size(), c, target);
  }
  Bytes reply(const Handled& h) const { return Bytes(buf.begin(), buf.begin() + static_cast<long>(h.length)); }
  uint64_t counter(const std::string& name, const Labels& labels = {}) const {
    return static_cast<uint64_t>(metrics.value(name, labels).value_or(-1));
  }
  void run_until(size_t replies) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (target->replies.size() < replies && std::chrono::steady_clock::now() < deadline)
      io.run_for(std::chrono::milliseconds(20));
  }
};

}  // namespace

TEST_CASE("engine: answers built in place, and counted", "[dns][engine]") {
  Fixture f;
  auto h = f.send(query("Sip.Vendor.Example", qtype::A, true, 0x4242));
  REQUIRE(h.length > 0);
  CHECK(!h.later);
  Bytes r = f.reply(h);
  CHECK(Header::read(r.data()).id == 0x4242);
  CHECK(r[13] == 'S');

  CHECK(f.send(query("a.vendor.example", qtype::A), "10.20.0.200").length > 0);  // refused
  CHECK(f.send(Bytes(7, 0)).length == 0);                                          // dropped
  CHECK(f.send(header_only()).length == kHeaderSize);                              // FORMERR
  CHECK(f.send(query("x.corp.example", qtype::ANY)).length > 0);                  // RFC 8482

  CHECK(f.counter("outpost_dns_queries_total") == 5);
  CHECK(f.counter("outpost_dns_rewritten_total") == 1);
  CHECK(f.counter("outpost_dns_refused_total") == 1);
  CHECK(f.counter("outpost_dns_refused_clients_total") == 1);
  CHECK(f.counter("outpost_dns_malformed_total") == 2);
  CHECK(f.counter("outpost_dns_dropped_total") == 1);
  CHECK(f.counter("outpost_dns_minimal_any_total") == 1);
  CHECK(f.counter("outpost_dns_queries_by_type_total", {{"qtype", "A"}}) == 2);
  CHECK(f.counter("outpost_dns_responses_total", {{"rcode", "NOERROR"}}) == 2);
  CHECK(f.counter("outpost_dns_responses_total", {{"rcode", "REFUSED"}}) == 1);
  CHECK(f.counter("outpost_dns_responses_total", {{"rcode", "FORMERR"}}) == 1);
  CHECK(f.engine.policy().rules().rules()[0]->hits() == 1);
}

TEST_CASE("engine: rate limiting drops and counts", "[dns][engine]") {
  Fixture f;
  f.engine.set_rate_limit(5, 5);
  int answered = 0;
  for (int i = 0; i < 20; ++i) answered += f.send(query("a.vendor.example", qtype::A)).length > 0;
  CHECK(answered == 5);
  CHECK(f.counter("outpost_dns_rate_limited_total") == 15);
  CHECK(f.counter("outpost_dns_dropped_total") == 15);
}

TEST_CASE("engine: without a resolver, forwarded queries get SERVFAIL", "[dns][engine]") {
  Fixture f;
  auto h = f.send(query("host1.corp.example", qtype::A));
  REQUIRE(h.length > 0);
  CHECK(Header::read(f.buf.data()).rcode() == 2);
  CHECK(f.counter("outpost_dns_upstream_failures_total") == 1);
}

TEST_CASE("engine: forwarding through libunbound, the CNAME rewrite, the cache", "[dns][engine]") {
  Fixture f;
  FakeUpstream upstream(f.io);
  ResolverSettings s;
  s.forwarders.push_back({asio::ip::make_address("127.0.0.1"), upstream.port()});
  REQUIRE(f.engine.set_upstream(s));

  auto h = f.send(query("WWW.corp.example", qtype::A, true, 0x1111));
  CHECK(h.later);
  CHECK(h.length == 0);
  f.run_until(1);
  REQUIRE(f.target->replies.size() == 1);
  {
    const Bytes& r = f.target->replies[0];
    RecordReader reader;
    REQUIRE(reader.open(r) == WireError::none);
    CHECK(reader.header().id == 0x1111);
    CHECK(reader.header().rcode() == 0);
    CHECK(r[13] == 'W');
    RecordView rr;
    std::vector<uint16_t> types;
    Bytes last_rdata;
    while (reader.next(rr)) {
      types.push_back(rr.type);
      if (rr.type == qtype::A) last_rdata.assign(r.begin() + static_cast<long>(rr.rdata_offset), r.begin() + static_cast<long>(rr.end));
    }
    CHECK(types == std::vector<uint16_t>{qtype::CNAME, qtype::A, qtype::OPT});
    CHECK(last_rdata == v4(10, 20, 0, 1));
  }
  CHECK(f.counter("outpost_dns_forwarded_total") == 1);
  CHECK(f.counter("outpost_dns_upstream_rewritten_total") == 1);

  // The same question again: from the answer cache, in place, with this client's ID and case.
  int asked = upstream.queries;
  h = f.send(query("www.CORP.example", qtype::A, false, 0x2222));
  REQUIRE(h.length > 0);
  CHECK(Header::read(f.buf.data()).id == 0x2222);
  CHECK(f.buf[17] == 'C');
  CHECK(upstream.queries == asked);
  CHECK(f.counter("outpost_dns_cache_hits_total") == 1);

  // NXDOMAIN passes through.
  f.send(query("nothing.corp.example", qtype::A));
  f.run_until(2);
  REQUIRE(f.target->replies.size() == 2);
  CHECK(Header::read(f.target->replies[1].data()).rcode() == 3);

  // A new policy empties the cache.
  f.engine.set_policy(policy());
  CHECK(f.engine.cache().entries() == 0);
  CHECK(f.engine.resolver().health().answers == 2);
}

TEST_CASE("engine: dns lookup reports the decision without counting", "[dns][engine]") {
  Fixture f;
  LookupReport got;
  bool called = false;
  f.engine.lookup(*WireName::from_text("app.vendor.example"), qtype::HTTPS, *parse_address("10.20.0.10"),
                  [&](LookupReport r) { got = std::move(r), called = true; });
  REQUIRE(called);
  CHECK(got.verdict == "rewrite");
  CHECK(got.rule.find("*.vendor.example") == 0);
  CHECK(Header::read(got.reply.data()).ancount == 0);
  called = false;
  f.engine.lookup(*WireName::from_text("app.vendor.example"), qtype::A, *parse_address("192.0.2.1"),
                  [&](LookupReport r) { got = std::move(r), called = true; });
  REQUIRE(called);
  CHECK(got.verdict == "refuse-client");
  CHECK(f.counter("outpost_dns_queries_total") == 0);
}
