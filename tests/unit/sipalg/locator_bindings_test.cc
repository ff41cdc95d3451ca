// RFC 3263 pieces (SRV records, ordering, blacklist) and the binding table with its
// persistence.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "common/log.h"
#include "sipalg/bindings.h"
#include "sipalg/message.h"
#include "sipalg/rewrite.h"
#include "sipalg/server_locator.h"
#include "sipalg/transport.h"
#include "tests/unit/sipalg/sip_test_util.h"

using namespace outpost;
using namespace outpost::sip;

namespace {
std::vector<uint8_t> srv(uint16_t prio, uint16_t weight, uint16_t port, std::vector<std::string> labels) {
  std::vector<uint8_t> d = {uint8_t(prio >> 8), uint8_t(prio), uint8_t(weight >> 8), uint8_t(weight), uint8_t(port >> 8),
                            uint8_t(port)};
  for (const auto& l : labels) {
    d.push_back(uint8_t(l.size()));
    d.insert(d.end(), l.begin(), l.end());
  }
  d.push_back(0);
  return d;
}
Endpoint ep(const char* text) { return *parse_endpoint(text); }
}  // namespace

TEST_CASE("SRV RDATA parses; broken ones are refused", "[sip]") {
  auto r = parse_srv(srv(10, 50, 5060, {"sip", "vendor", "example"}));
  REQUIRE(r);
  CHECK(r->priority == 10);
  CHECK(r->weight == 50);
  CHECK(r->port == 5060);
  CHECK(r->target == "sip.vendor.example");
  CHECK(!parse_srv(srv(0, 0, 0, {})));  // "." = no service
  auto cut = srv(10, 50, 5060, {"sip"});
  cut.pop_back();
  CHECK(!parse_srv(cut));
  auto compressed = srv(1, 1, 1, {});
  compressed.back() = 0xc0;
  compressed.push_back(12);
  CHECK(!parse_srv(compressed));
  CHECK(!parse_srv({1, 2, 3}));
}

TEST_CASE("SRV order: priority first, then the heavier weight", "[sip]") {
  std::vector<SrvRecord> v = {{20, 50, 5060, "sip2"}, {10, 10, 5060, "b"}, {10, 90, 5060, "a"}};
  sort_srv(v);
  CHECK(v[0].target == "a");
  CHECK(v[1].target == "b");
  CHECK(v[2].target == "sip2");
}

TEST_CASE("blacklisted servers go last until their time is up", "[sip]") {
  MemoryLogSink sink;
  ServerLocator loc({}, nullptr, Logger(sink, "t"), std::chrono::seconds(30));
  loc.set_targets({{"sip", ep("203.0.113.10:5060"), Transport::udp}, {"sip2", ep("203.0.113.11:5060"), Transport::udp}});
  auto now = ServerLocator::Clock::now();
  CHECK(loc.candidates(now)[0].name == "sip");
  loc.blacklist(ep("203.0.113.10:5060"), now);
  CHECK(loc.candidates(now)[0].name == "sip2");
  CHECK(loc.candidates(now).size() == 2);
  CHECK(loc.status(now)[0]["state"] == "blacklisted");
  CHECK(loc.candidates(now + std::chrono::seconds(31))[0].name == "sip");
  loc.blacklist(ep("203.0.113.11:5060"), now + std::chrono::seconds(1));
  CHECK(loc.candidates(now + std::chrono::seconds(2))[0].name == "sip");  // both out: the first to come back
  CHECK(loc.is_server(*parse_address("203.0.113.11")));
}

TEST_CASE("device contacts map to stable outpost contacts and back", "[sip]") {
  Identity me{*parse_address("10.20.0.1"), 5060, *parse_address("198.51.100.1"), 5060};
  Bindings b;
  Flow dev{Side::lan, Transport::udp, ep("10.20.0.10:5062"), 0};
  std::string out = b.map_out("sip:alice@10.20.0.10:5062", dev, me, Transport::udp, 1000);
  CHECK(out.rfind("sip:op", 0) == 0);
  CHECK(out.find("@198.51.100.1:5060") != std::string::npos);
  CHECK(out.find("10.20.0") == std::string::npos);
  CHECK(b.map_out("sip:alice@10.20.0.10:5062", dev, me, Transport::udp, 1001) == out);  // stable on refresh
  auto token = Bindings::token_of(out, me);
  REQUIRE(token);
  REQUIRE(b.lookup(*token));
  CHECK(b.lookup(*token)->contact == "sip:alice@10.20.0.10:5062");
  CHECK(!Bindings::token_of("sip:op123@203.0.113.10", me));  // not our address
  CHECK(!Bindings::token_of("sip:alice@198.51.100.1", me));
  CHECK(!Bindings::token_of("sip:alice@198.51.100.1:5060;transport=udp", me));  // no "op" anywhere
  CHECK(!Bindings::token_of("sip:OP123@198.51.100.1", me));                     // the prefix is case-sensitive
  CHECK(!Bindings::token_of("sip:opera@198.51.100.2", me));
  CHECK(Bindings::token_of("sip:op12ab@198.51.100.1:5060;transport=tcp", me) == std::optional<std::string>("12ab"));
}

TEST_CASE("contact tokens hash the contact, the source as text and the transport", "[sip]") {
  // The token is persisted and on the wire (sip:op<token>@...): it must stay the FNV-1a 64 of
  // the contact, Endpoint::to_string() of the source and the transport name, each followed by 0xff.
  auto reference = [](const std::string& contact, const Flow& f) {
    uint64_t h = 1469598103934665603ULL;
    for (const std::string& s : {contact, f.peer.to_string(), std::string(to_string(f.transport))}) {
      for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
      h = (h ^ 0xff) * 1099511628211ULL;
    }
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return std::string(buf);
  };
  for (const char* source : {"10.20.0.10:5062", "255.255.255.255:65535", "0.0.0.0:0", "[fd00::10]:5060", "[::ffff:10.0.0.1]:1"}) {
    for (Transport t : {Transport::udp, Transport::tcp, Transport::tls, Transport::wss}) {
      Flow f{Side::lan, t, ep(source), 0};
      CHECK(make_token("sip:alice@10.20.0.10:5062", f) == reference("sip:alice@10.20.0.10:5062", f));
    }
  }
  CHECK(make_token("sip:alice@10.20.0.10:5062", Flow{Side::lan, Transport::udp, ep("10.20.0.10:5062"), 0}) !=
        make_token("sip:alice@10.20.0.10:5062", Flow{Side::lan, Transport::udp, ep("10.20.0.10:5063"), 0}));
  // map_out_token with the token make_token gives is map_out.
  Identity me{*parse_address("10.20.0.1"), 5060, *parse_address("198.51.100.1"), 5060};
  Flow dev{Side::lan, Transport::udp, ep("10.20.0.10:5062"), 0};
  Bindings a, b;
  CHECK(a.map_out("sip:alice@10.20.0.10:5062", dev, me, Transport::tcp, 1000) ==
        b.map_out_token(make_token("sip:alice@10.20.0.10:5062", dev), "sip:alice@10.20.0.10:5062", dev, me,
                        Transport::tcp, 1000));
  REQUIRE(b.lookup(make_token("sip:alice@10.20.0.10:5062", dev)));
  CHECK(b.lookup(make_token("sip:alice@10.20.0.10:5062", dev))->last_used == 1000);
}

TEST_CASE("registrations expire, persist and come back", "[sip]") {
  Identity me{*parse_address("10.20.0.1"), 5060, *parse_address("198.51.100.1"), 5060};
  Bindings b;
  Flow dev{Side::lan, Transport::tcp, ep("10.20.0.10:40000"), 7};
  std::string out = b.map_out("sip:alice@10.20.0.10:5062;transport=tcp", dev, me, Transport::udp, 1000);
  auto token = *Bindings::token_of(out, me);
  b.registered("sip:alice@vendor.example", token, 120, 1000);
  auto rows = b.to_json(1000);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0]["aor"] == "sip:alice@vendor.example");
  CHECK(rows[0]["contact"] == "sip:alice@10.20.0.10:5062;transport=tcp");
  CHECK(rows[0]["transport"] == "tcp");
  CHECK(rows[0]["source"] == "10.20.0.10:40000");
  CHECK(rows[0]["expires_in"] == 120);

  auto dir = std::filesystem::temp_directory_path() / ("sipalg-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "reg.json").string();
  REQUIRE(b.save(path));
  Bindings c;
  REQUIRE(c.load(path, 1010));
  CHECK(c.registrations().size() == 1);
  REQUIRE(c.lookup(token));
  CHECK(c.lookup(token)->flow.transport == Transport::tcp);
  CHECK(c.lookup(token)->flow.connection == 0);  // connections do not survive a restart
  Bindings d;
  REQUIRE(d.load(path, 2000));  // expired meanwhile
  CHECK(d.registrations().empty());
  CHECK(!d.parse("{not json", 0));
  CHECK(!d.parse(R"({"registrations": [{"aor": 1}]})", 0));
  REQUIRE(d.load((dir / "missing.json").string(), 0));  // nothing saved yet is fine

  // Later saves append only what changed; removals and refreshes replay in order.
  Bindings jb = b;  // b itself is checked for expiry below
  std::string out2 = jb.map_out("sip:bob@10.20.0.11:5060", Flow{Side::lan, Transport::udp, ep("10.20.0.11:5060"), 0}, me,
                               Transport::udp, 1000);
  auto token2 = *Bindings::token_of(out2, me);
  jb.registered("sip:bob@vendor.example", token2, 300, 1000);
  jb.registered("sip:alice@vendor.example", token, 60, 1000);  // refreshed, shorter
  REQUIRE(jb.save(path));
  auto size_of = [&] { return std::filesystem::file_size(path); };
  const auto appended = size_of();
  REQUIRE(jb.save(path));  // nothing changed: nothing written
  CHECK(size_of() == appended);
  Bindings e;
  REQUIRE(e.load(path, 1070));  // alice's refresh (60 s) replaced her 120 s binding
  CHECK(e.registrations().size() == 1);
  CHECK(e.lookup(token2));
  CHECK(!e.lookup(token));
  jb.unregistered("sip:bob@vendor.example", token2);
  REQUIRE(jb.save(path));
  Bindings f;
  REQUIRE(f.load(path, 1010));
  REQUIRE(f.registrations().size() == 1);
  CHECK(f.registrations()[0].aor == "sip:alice@vendor.example");
  {  // a crash mid-append leaves a torn last line: it is dropped, the rest restored
    std::ofstream torn(path, std::ios::app);
    torn << "{\"aor\":\"sip:carol@vendor.ex";
  }
  Bindings g;
  REQUIRE(g.load(path, 1010));
  CHECK(g.registrations().size() == 1);
  g.registered("sip:alice@vendor.example", token, 120, 1010);
  REQUIRE(g.save(path));  // the torn journal is rewritten whole
  Bindings h;
  REQUIRE(h.load(path, 1010));
  CHECK(h.registrations().size() == 1);
  CHECK(*h.expires_in("sip:alice@vendor.example", token, 1010) == 120);
  std::filesystem::remove_all(dir);

  CHECK(!b.expire(1100));
  CHECK(b.expire(1121));
  CHECK(b.registrations().empty());
  b.registered("sip:alice@vendor.example", token, 0, 1200);  // expires=0 removes
  CHECK(b.registrations().empty());
}

TEST_CASE("a device registered on an extra port is called from that port after a restart", "[sip]") {
  Identity me{*parse_address("10.20.0.1"), 5060, *parse_address("198.51.100.1"), 5060};
  me.lan_extra_ports = {5070};
  Flow on_5070{Side::lan, Transport::udp, ep("10.20.0.12:5062"), 0, 5070};
  Flow on_5060{Side::lan, Transport::udp, ep("10.20.0.13:5062"), 0};
  Bindings b;
  auto t1 = *Bindings::token_of(b.map_out("sip:carol@10.20.0.12:5062", on_5070, me, Transport::udp, 1000), me);
  auto t2 = *Bindings::token_of(b.map_out("sip:dave@10.20.0.13:5062", on_5060, me, Transport::udp, 1000), me);
  b.registered("sip:carol@vendor.example", t1, 120, 1000);
  b.registered("sip:dave@vendor.example", t2, 120, 1000);
  auto rows = b.to_json(1000);
  REQUIRE(rows.size() == 2);
  for (const auto& r : rows) CHECK(r["local_port"] == (r["aor"] == "sip:carol@vendor.example" ? nlohmann::json(5070) : nlohmann::json(nullptr)));

  auto dir = std::filesystem::temp_directory_path() / ("sipalg-extra-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "reg.json").string();
  REQUIRE(b.save(path));
  Bindings c;
  REQUIRE(c.load(path, 1010));
  REQUIRE(c.lookup(t1));
  CHECK(c.lookup(t1)->flow.local_port == 5070);
  REQUIRE(c.lookup(t2));
  CHECK(c.lookup(t2)->flow.local_port == 0);
  // A hand-edited or damaged port is refused, not truncated into another port.
  CHECK(!c.parse(std::string(R"({"registrations": [{"aor": "sip:x@vendor.example", "token": "t", "expires_at": 2000,)") +
                     R"( "contact": "sip:x@10.20.0.14", "transport": "udp", "source": "10.20.0.14:5060", "local_port": 70000}]})",
                 1000));
  std::filesystem::remove_all(dir);
}

namespace {
// NAPTR rdata: order, preference, flags, service, regexp, replacement (uncompressed name).
std::vector<uint8_t> naptr_rdata(uint16_t order, uint16_t pref, const std::string& flags, const std::string& service,
                                 const std::string& replacement) {
  std::vector<uint8_t> d{uint8_t(order >> 8), uint8_t(order), uint8_t(pref >> 8), uint8_t(pref)};
  for (const std::string& s : {flags, service, std::string()}) {
    d.push_back(uint8_t(s.size()));
    d.insert(d.end(), s.begin(), s.end());
  }
  size_t start = 0;
  while (start < replacement.size()) {
    size_t dot = replacement.find('.', start);
    if (dot == std::string::npos) dot = replacement.size();
    d.push_back(uint8_t(dot - start));
    d.insert(d.end(), replacement.begin() + long(start), replacement.begin() + long(dot));
    start = dot + 1;
  }
  d.push_back(0);
  return d;
}
}  // namespace

TEST_CASE("NAPTR (RFC 3263 4.1): parsed, and the profile's transport picks the SRV name", "[sip][locator]") {
  auto udp = outpost::sip::parse_naptr(naptr_rdata(50, 10, "s", "SIP+D2U", "_sip._udp.vendor.example"));
  REQUIRE(udp);
  CHECK(udp->order == 50);
  CHECK(udp->preference == 10);
  CHECK(udp->flags == "s");
  CHECK(udp->service == "SIP+D2U");
  CHECK(udp->replacement == "_sip._udp.vendor.example");
  auto tcp_late = *outpost::sip::parse_naptr(naptr_rdata(90, 50, "S", "SIP+D2T", "_sip._tcp.b.vendor.example"));
  auto tcp_early = *outpost::sip::parse_naptr(naptr_rdata(20, 50, "s", "SIP+D2T", "_sip._tcp.a.vendor.example"));
  auto tls = *outpost::sip::parse_naptr(naptr_rdata(10, 50, "s", "SIPS+D2T", "_sips._tcp.vendor.example"));
  auto not_s = *outpost::sip::parse_naptr(naptr_rdata(5, 5, "a", "SIP+D2U", "sip.vendor.example"));
  using outpost::sip::Transport;
  CHECK(outpost::sip::select_naptr({tcp_late, *udp, tcp_early, tls}, Transport::tcp) == "_sip._tcp.a.vendor.example");
  CHECK(outpost::sip::select_naptr({tcp_late, *udp, tcp_early, tls}, Transport::udp) == "_sip._udp.vendor.example");
  CHECK(outpost::sip::select_naptr({tcp_late, *udp, tls}, Transport::tls) == "_sips._tcp.vendor.example");
  CHECK(!outpost::sip::select_naptr({not_s, tcp_late}, Transport::udp));  // only "s" records; else the SRV fallback
  CHECK(!outpost::sip::select_naptr({}, Transport::udp));
  // transport: auto: the domain's first usable record picks the transport.
  auto any = outpost::sip::select_naptr_any({tcp_late, *udp, tcp_early, tls, not_s});
  REQUIRE(any);
  CHECK(any->first == Transport::tls);
  CHECK(any->second == "_sips._tcp.vendor.example");
  any = outpost::sip::select_naptr_any({tcp_late, tcp_early, not_s});
  REQUIRE(any);
  CHECK(any->first == Transport::tcp);
  CHECK(any->second == "_sip._tcp.a.vendor.example");
  auto ws = *outpost::sip::parse_naptr(naptr_rdata(1, 1, "s", "SIPS+D2W", "_sips._ws.vendor.example"));
  CHECK(!outpost::sip::select_naptr_any({ws, not_s}));  // nothing outpost speaks this way: UDP
  // Truncated or compressed rdata is refused.
  auto bad = naptr_rdata(1, 1, "s", "SIP+D2U", "x.example");
  CHECK(!outpost::sip::parse_naptr(std::vector<uint8_t>(bad.begin(), bad.end() - 3)));
  bad.back() = 0xc0;
  CHECK(!outpost::sip::parse_naptr(bad));
}

TEST_CASE("TLS and WSS servers: their own default ports, path and name for the certificate check", "[sip][locator]") {
  MemoryLogSink sink;
  std::vector<config::SipServer> servers(4);
  servers[0].host = "203.0.113.10", servers[0].transport = "tls";
  servers[1].host = "203.0.113.11", servers[1].transport = "wss", servers[1].path = "/sip";
  servers[2].host = "203.0.113.12", servers[2].transport = "wss", servers[2].port = 8443;
  servers[3].host = "203.0.113.13", servers[3].transport = "udp";
  ServerLocator loc(servers, nullptr, Logger(sink, "t"), std::chrono::seconds(30));
  bool done = false;
  loc.refresh([&] { done = true; });
  REQUIRE(done);  // addresses need no look-up
  auto c = loc.candidates(ServerLocator::Clock::now());
  REQUIRE(c.size() == 4);
  CHECK(c[0].endpoint.to_string() == "203.0.113.10:5061");  // RFC 3261 19.1.2
  CHECK(c[0].transport == Transport::tls);
  CHECK(c[1].endpoint.to_string() == "203.0.113.11:443");  // wss:// without a port
  CHECK(c[1].transport == Transport::wss);
  CHECK(c[1].path == "/sip");
  CHECK(c[2].endpoint.to_string() == "203.0.113.12:8443");
  CHECK(c[3].endpoint.to_string() == "203.0.113.13:5060");
  CHECK(c[3].transport == Transport::udp);
  auto at = loc.server_at(*parse_address("203.0.113.11"));
  REQUIRE(at);
  CHECK(at->name == "203.0.113.11");
  CHECK(!loc.server_at(*parse_address("203.0.113.99")));
}

TEST_CASE("outpost's TLS/WSS connections to the vendor: one shared source port, named in Via and Record-Route",
          "[sip][locator]") {
  Identity me = test::test_identity();
  me.uplink_tls_port = 5061;
  CHECK(me.host_port(Side::uplink, Transport::tls) == "198.51.100.1:5061");
  CHECK(me.host_port(Side::uplink, Transport::wss) == "198.51.100.1:5061");
  CHECK(me.host_port(Side::uplink, Transport::udp) == "198.51.100.1:5060");
  CHECK(me.is_own(me.uplink, 5061));
  CHECK(!me.is_own(me.lan, 5061));  // no LAN TLS port configured here
  // Two connections to different servers from the same address and port (SO_REUSEPORT).
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  boost::asio::ip::tcp::acceptor b(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  boost::asio::ip::tcp::socket s1(io), s2(io), s3(io);
  auto loopback = *parse_address("127.0.0.1");
  auto r1 = bind_client(s1, a.local_endpoint(), loopback, 0);
  REQUIRE(r1);
  CHECK(*r1 == 0);  // no port asked: ephemeral
  uint16_t shared = s1.local_endpoint().port();
  s1.close();
  auto p1 = bind_client(s1, a.local_endpoint(), loopback, shared);
  auto p2 = bind_client(s2, b.local_endpoint(), loopback, shared);
  REQUIRE(p1);
  REQUIRE(p2);
  CHECK(*p1 == shared);
  CHECK(*p2 == shared);
  s1.connect(a.local_endpoint());
  s2.connect(b.local_endpoint());
  CHECK(s1.local_endpoint().port() == shared);
  CHECK(s2.local_endpoint().port() == shared);
  // A socket without SO_REUSEPORT holds the port: the next one falls back to an ephemeral port.
  boost::asio::ip::tcp::acceptor holder(io, {loopback, 0});
  auto p3 = bind_client(s3, a.local_endpoint(), loopback, holder.local_endpoint().port());
  REQUIRE(p3);
  CHECK(*p3 == 0);
}

TEST_CASE("is_own_request_uri reads the parsed Request-URI as is_own_uri reads its text", "[sip][rewrite]") {
  const Identity me = test::test_identity();
  for (const char* uri : {"sip:10.20.0.1", "sip:10.20.0.1:5060", "sips:10.20.0.1;transport=tcp", "sip:10.20.0.1:5099",
                          "sip:alice@10.20.0.1", "sip:198.51.100.1", "sip:203.0.113.10", "sip:vendor.example",
                          "sip:[2001:db8::1]", "tel:+15551234"}) {
    auto parsed = Message::parse(std::string("OPTIONS ") + uri +
                                 " SIP/2.0\r\nVia: SIP/2.0/UDP 10.20.0.10:5062;branch=z9hG4bK1\r\n"
                                 "From: <sip:a@vendor.example>;tag=1\r\nTo: <sip:b@vendor.example>\r\n"
                                 "Call-ID: own-uri\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n");
    REQUIRE(std::holds_alternative<Message>(parsed));
    INFO(uri);
    CHECK(is_own_request_uri(std::get<Message>(parsed), me) == is_own_uri(uri, me));
  }
  CHECK(is_own_uri("sip:10.20.0.1", me));
  CHECK_FALSE(is_own_uri("sip:10.20.0.1:5099", me));
}
