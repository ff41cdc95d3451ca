// The media relay end to end on loopback: real UDP sockets for a phone on the LAN
// (127.0.0.10), the vendor's media server (127.0.0.20) and a stranger (127.0.0.30); outpost's
// LAN address 127.0.0.1, uplink 127.0.0.2. Bytes must arrive identical both ways, latching
// and hijack protection must hold, and the counters must agree with what was sent.
#include <catch2/catch.hpp>

#include <cerrno>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "common/control.h"
#include "common/log.h"
#include "common/metrics.h"
#include "daemon/config_model.h"
#include "dataplane/media.h"

using namespace outpost;
using namespace outpost::media;
namespace asio = boost::asio;
using udp = asio::ip::udp;

namespace {

config::Config test_config() {
  config::Config c;
  c.lan.address = *parse_interface_address("127.0.0.1/8");
  c.lan.client_subnets = {*parse_prefix("127.0.0.10/32").prefix};  // the phone
  c.uplinks.primary.configured = true;
  c.uplinks.primary.address = *parse_interface_address("127.0.0.2/8");
  c.vendor.prefixes = {*parse_prefix("127.0.0.20/32").prefix};  // the vendor's media server
  c.media.lan_ports = {41000, 41009};
  c.media.uplink_ports = {42000, 42009};
  c.media.latch_packets = 3;
  c.media.timeout_s = 60;
  return c;
}

struct Peer {
  Peer(asio::io_context& io, const char* address, uint16_t port = 0)
      : socket(io, udp::endpoint(asio::ip::make_address(address), port)) {
    socket.non_blocking(true);
  }
  Endpoint endpoint() const { return {socket.local_endpoint().address(), socket.local_endpoint().port()}; }
  void send(const std::vector<uint8_t>& bytes, const Endpoint& to) {
    socket.send_to(asio::buffer(bytes), udp::endpoint(to.address, to.port));
  }
  // Everything that arrived so far.
  std::vector<std::vector<uint8_t>> take(udp::endpoint* from = nullptr) {
    std::vector<std::vector<uint8_t>> out;
    uint8_t buf[4096];
    boost::system::error_code ec;
    while (true) {
      udp::endpoint source;
      size_t n = socket.receive_from(asio::buffer(buf), source, 0, ec);
      if (ec) break;
      if (from) *from = source;
      out.emplace_back(buf, buf + n);
    }
    return out;
  }
  udp::socket socket;
};

std::vector<uint8_t> rtp(uint16_t seq, uint8_t fill) {
  std::vector<uint8_t> p(172, fill);
  p[0] = 0x80, p[1] = 0;
  p[2] = uint8_t(seq >> 8), p[3] = uint8_t(seq);
  p[4] = p[5] = 0, p[6] = uint8_t((seq * 160) >> 8), p[7] = uint8_t(seq * 160);
  p[8] = 1, p[9] = 2, p[10] = 3, p[11] = fill;
  return p;
}

// Runs the loop until `done` (or a generous safety deadline, so a bug fails instead of hanging).
void pump(asio::io_context& io, const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_for(std::chrono::milliseconds(5));
  }
}

// Runs the loop until `peer` has received `count` datagrams into `got` in all (appending;
// `from`: the last one's sender), or the safety deadline.
void receive(asio::io_context& io, Peer& peer, std::vector<std::vector<uint8_t>>& got, size_t count,
             udp::endpoint* from = nullptr) {
  pump(io, [&] {
    for (auto& p : peer.take(from)) got.push_back(std::move(p));
    return got.size() >= count;
  });
}

// What the relay runs on: the engine asked for, and the io_uring engine's coalescing wait.
struct Engine {
  MediaEngine engine = MediaEngine::epoll;
  unsigned coalesce_us = 0;
};
// Every way datagrams can move: io_uring coalescing (the default wait), io_uring waking per
// completion, epoll. io_uring falls back to epoll where the kernel refuses it.
const std::vector<Engine> kEngines = {{MediaEngine::io_uring, 200}, {MediaEngine::io_uring, 0}, {MediaEngine::epoll, 0}};

struct Fixture {
  explicit Fixture(Engine e = {}) {
    config.media.coalesce_us = e.coalesce_us;
    relay = make_media_relay(context, config, e.engine);
  }
  asio::io_context io;
  MemoryLogSink log;
  MetricsRegistry metrics;
  ControlRegistry control;
  ComponentContext context{io, log, metrics, control};
  config::Config config = test_config();
  std::shared_ptr<MediaRelay> relay;
  double metric(const std::string& name, const Labels& labels = {}) { return metrics.value(name, labels).value_or(-1); }
  Json show(const std::string& command) {
    Json data;
    control.dispatch(command, Json::object(), [&](ControlReply r) { data = r.data; });
    return data;
  }
};

}  // namespace

TEST_CASE("media relay: offers allocate pairs on both legs and later offers keep them") {
  Fixture f;
  REQUIRE(f.relay->start());
  StreamOffer o{"call-1@example", 0, LegSide::lan, Endpoint{*parse_address("127.0.0.10"), 4000}, std::nullopt, false};
  auto first = f.relay->offer(o);
  REQUIRE(first);
  CHECK(first->lan_rtp.address.to_string() == "127.0.0.1");
  CHECK(first->uplink_rtp.address.to_string() == "127.0.0.2");
  CHECK(first->lan_rtp.port % 2 == 0);
  CHECK(first->lan_rtcp.port == first->lan_rtp.port + 1);
  CHECK(first->uplink_rtcp.port == first->uplink_rtp.port + 1);
  CHECK(f.relay->offer(o)->lan_rtp.port == first->lan_rtp.port);  // re-INVITE
  o.from = LegSide::uplink;
  CHECK(f.relay->offer(o)->uplink_rtp.port == first->uplink_rtp.port);  // the answer
  o.index = 1;
  CHECK(f.relay->offer(o)->lan_rtp.port != first->lan_rtp.port);  // a second m= line
  CHECK(f.show("show media")["ports"]["lan"]["in_use"] == 4);
  CHECK(f.metric("outpost_media_sessions") == 2);

  // Five pairs per range: three more streams fit, the sixth does not.
  for (unsigned i = 0; i < 3; ++i) CHECK(f.relay->offer({"call-2@example", i, LegSide::lan, std::nullopt, std::nullopt, false}));
  auto full = f.relay->offer({"call-3@example", 0, LegSide::lan, std::nullopt, std::nullopt, false});
  REQUIRE_FALSE(full);
  CHECK(full.error().message.find("no free LAN media ports") != std::string::npos);
  CHECK(f.metric("outpost_media_offers_failed_total") == 1);

  f.relay->release("call-1@example");
  f.relay->release("call-2@example");
  // The released streams' sockets are parked, their ports held for the next streams.
  Json ports = f.show("show media")["ports"];
  CHECK(ports["lan"]["in_use"] == 0);
  CHECK(ports["lan"]["parked"] == 10);
  CHECK(ports["uplink"]["free"] == 0);
  CHECK(f.metric("outpost_media_ports", {{"range", "uplink"}, {"state", "parked"}}) == 10);
  CHECK(f.relay->call_media("call-1@example").empty());
  // The ranges are full, so a new stream takes the oldest parked sockets before their
  // quarantine is over: call-1's first stream.
  auto reused = f.relay->offer({"call-3@example", 0, LegSide::lan, std::nullopt, std::nullopt, false});
  REQUIRE(reused);
  CHECK(reused->lan_rtp.port == first->lan_rtp.port);
  CHECK(reused->uplink_rtp.port == first->uplink_rtp.port);
  CHECK(f.metric("outpost_media_streams_reused_total") == 1);
  CHECK(f.show("show media")["ports"]["lan"]["in_use"] == 2);
  f.relay->stop();
}

TEST_CASE("media relay: with parked_streams 0 a released stream's ports are free at once") {
  Fixture f;
  f.config.media.parked_streams = 0;
  f.relay = make_media_relay(f.context, f.config, MediaEngine::epoll);
  REQUIRE(f.relay->start());
  for (unsigned i = 0; i < 5; ++i) CHECK(f.relay->offer({"call-1@example", i, LegSide::lan, std::nullopt, std::nullopt, false}));
  CHECK(f.show("show media")["ports"]["lan"]["free"] == 0);
  f.relay->release("call-1@example");
  Json ports = f.show("show media")["ports"];
  CHECK(ports["lan"]["free"] == 10);
  CHECK(ports["lan"]["parked"] == 0);
  CHECK(f.relay->offer({"call-2@example", 0, LegSide::lan, std::nullopt, std::nullopt, false}));
  CHECK(f.metric("outpost_media_streams_reused_total") == 0);
  f.relay->stop();
}

// Both engines, same bytes and counters: io_uring where the kernel allows it (else it falls
// back to epoll, which the metric shows), and epoll forced.
TEST_CASE("media relay: packets both ways on loopback, latching, hijack, counters, timeout") {
  const Engine engine = GENERATE(from_range(kEngines));
  Fixture f(engine);
  REQUIRE(f.relay->start());
  const Json summary = f.show("show media");
  const std::string engine_name = summary["engine"];
  INFO("engine " << engine_name << ", coalesce " << engine.coalesce_us);
  if (engine.engine == MediaEngine::epoll) CHECK(engine_name == "epoll");
  else CHECK(engine_name == (f.metric("outpost_media_io_uring_fallbacks_total") == 1 ? "epoll" : "io_uring"));
  // Coalescing needs DEFER_TASKRUN (Linux 6.1, Debian 12's kernel).
  CHECK(summary["coalesce_us"] == (engine_name == "io_uring" ? engine.coalesce_us : 0));
  Peer phone(f.io, "127.0.0.10"), vendor(f.io, "127.0.0.20"), stranger(f.io, "127.0.0.30");
  Peer phone_rtcp(f.io, "127.0.0.10"), vendor_rtcp(f.io, "127.0.0.20");
  const std::string call = "a84b4c76e66710@example";

  // INVITE from the phone, 200 OK from the vendor.
  auto ports = f.relay->offer({call, 0, LegSide::lan, phone.endpoint(), phone_rtcp.endpoint(), false});
  REQUIRE(ports);
  REQUIRE(f.relay->offer({call, 0, LegSide::uplink, vendor.endpoint(), vendor_rtcp.endpoint(), false}));

  // LAN -> vendor: 10 RTP packets, bytes untouched, from outpost's uplink RTP port.
  std::vector<std::vector<uint8_t>> sent, got;
  for (uint16_t s = 0; s < 10; ++s) {
    sent.push_back(rtp(s, 0xa0));
    phone.send(sent.back(), ports->lan_rtp);
  }
  udp::endpoint from;
  receive(f.io, vendor, got, 10, &from);
  CHECK(got == sent);
  CHECK(from.address().to_string() == "127.0.0.2");
  CHECK(from.port() == ports->uplink_rtp.port);

  // Vendor -> LAN, and the vendor answers from another port than its SDP said: allowed
  // (signalled address), so after three packets the LAN -> vendor direction follows it.
  Peer vendor_nat(f.io, "127.0.0.20");
  std::vector<std::vector<uint8_t>> back, got_back;
  for (uint16_t s = 0; s < 5; ++s) {
    back.push_back(rtp(s, 0xb0));
    vendor_nat.send(back.back(), ports->uplink_rtp);
  }
  receive(f.io, phone, got_back, 5, &from);
  CHECK(got_back == back);
  CHECK(from.port() == ports->lan_rtp.port);
  phone.send(rtp(10, 0xa0), ports->lan_rtp);
  std::vector<std::vector<uint8_t>> at_nat;
  receive(f.io, vendor_nat, at_nat, 1);
  CHECK(at_nat.size() == 1);
  CHECK(vendor.take().empty());

  // A stranger outside vendor.prefixes sends to the uplink port: dropped, counted, and the
  // phone keeps receiving from the vendor only.
  for (uint16_t s = 0; s < 6; ++s) stranger.send(rtp(s, 0xee), ports->uplink_rtp);
  pump(f.io, [&] { return f.metric("outpost_media_dropped_total", {{"reason", "source_not_allowed"}}) >= 6; });
  CHECK(f.metric("outpost_media_dropped_total", {{"reason", "source_not_allowed"}}) == 6);
  CHECK(phone.take().empty());

  // RTCP goes RTCP socket to RTCP socket. The phone's receiver report is on the vendor's
  // stream (SSRC 0x010203b0): 25 % lost in the last interval, 2 in all.
  const std::vector<uint8_t> rr = {0x81, 201, 0, 7, 1, 2, 3, 4, 1, 2, 3, 0xb0, 0x40, 0, 0, 2,
                                   0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  phone_rtcp.send(rr, ports->lan_rtcp);
  std::vector<std::vector<uint8_t>> at_rtcp;
  receive(f.io, vendor_rtcp, at_rtcp, 1, &from);
  REQUIRE(at_rtcp.size() == 1);
  CHECK(at_rtcp[0] == rr);
  CHECK(from.port() == ports->uplink_rtcp.port);

  // Counters agree with what was sent: 11 RTP + 1 RTCP to the vendor, 5 to the LAN.
  CHECK(f.metric("outpost_media_packets_to_vendor_total") == 12);
  CHECK(f.metric("outpost_media_bytes_to_vendor_total") == 11 * 172 + rr.size());
  CHECK(f.metric("outpost_media_packets_to_lan_total") == 5);
  CHECK(f.metric("outpost_media_bytes_to_lan_total") == 5 * 172);
  CHECK(f.metric("outpost_media_latched_total") >= 1);
  auto media = f.relay->call_media(call);
  REQUIRE(media.size() == 1);
  CHECK(media[0]["index"] == 0);
  CHECK(media[0]["to_vendor"]["packets"] == 12);
  CHECK(media[0]["to_vendor"]["lost"] == 0);
  CHECK(media[0]["to_lan"]["packets"] == 5);
  // What the phone reported on the vendor's stream, beside what outpost saw of it.
  CHECK(f.metric("outpost_media_rtcp_read_total") == 1);
  CHECK(media[0]["to_lan"]["remote"]["cumulative_lost"] == 2);
  CHECK(media[0]["to_lan"]["remote"]["fraction_lost_pct"] == 25.0);
  CHECK(media[0]["to_lan"]["remote"]["rtt_ms"].is_null());  // no sender report passed
  CHECK(media[0]["to_vendor"]["remote"].is_null());
  // The call record's sums say the same.
  const CallMediaTotals totals = f.relay->call_totals(call);
  CHECK(totals.streams == 1);
  CHECK(totals.packets_to_vendor == 12);
  CHECK(totals.packets_to_lan == 5);
  CHECK(totals.lost_to_vendor == media[0]["to_vendor"]["lost"]);
  CHECK(totals.lost_to_lan == media[0]["to_lan"]["lost"]);
  CHECK(totals.jitter_ms_max == std::max(media[0]["to_vendor"]["jitter_ms"].get<double>(),
                                         media[0]["to_lan"]["jitter_ms"].get<double>()));
  CHECK(f.relay->call_totals("unknown@example").streams == 0);
  CHECK(media[0]["uplink"]["latched"] == true);
  CHECK(media[0]["uplink"]["peer"] == vendor_nat.endpoint().to_string());
  CHECK(media[0]["lan"]["local"] == ports->lan_rtp.to_string());
  CHECK(f.show("show media sessions")["streams"].size() == 1);

  // Silence: with timeout 0 the next sweep frees the stream's ports.
  auto shorter = f.config;
  shorter.media.timeout_s = 0;
  REQUIRE(f.relay->reload(shorter));
  pump(f.io, [&] { return f.metric("outpost_media_streams_timed_out_total") >= 1; });
  CHECK(f.metric("outpost_media_streams_timed_out_total") == 1);
  CHECK(f.relay->call_media(call).empty());
  CHECK(f.metric("outpost_media_ports", {{"range", "lan"}, {"state", "in_use"}}) == 0);
  // Its sockets are parked: what still arrives there is read and dropped, not relayed.
  CHECK(f.metric("outpost_media_ports", {{"range", "lan"}, {"state", "parked"}}) == 2);
  phone.send(rtp(11, 0xa0), ports->lan_rtp);
  vendor_nat.send(rtp(5, 0xb0), ports->uplink_rtp);
  pump(f.io, [&] { return f.metric("outpost_media_dropped_total", {{"reason", "stream_closed"}}) >= 2; });
  CHECK(f.metric("outpost_media_dropped_total", {{"reason", "stream_closed"}}) == 2);
  CHECK(f.metric("outpost_media_packets_to_vendor_total") == 12);
  CHECK(f.metric("outpost_media_packets_to_lan_total") == 5);
  f.relay->stop();
}

TEST_CASE("media relay: nothing signalled on the far side yet means no_peer drops") {
  Fixture f(GENERATE(from_range(kEngines)));
  REQUIRE(f.relay->start());
  Peer phone(f.io, "127.0.0.10");
  auto ports = f.relay->offer({"early@example", 0, LegSide::lan, phone.endpoint(), std::nullopt, false});
  REQUIRE(ports);
  phone.send(rtp(1, 0x11), ports->lan_rtp);
  pump(f.io, [&] { return f.metric("outpost_media_dropped_total", {{"reason", "no_peer"}}) >= 1; });
  CHECK(f.metric("outpost_media_dropped_total", {{"reason", "no_peer"}}) == 1);
  f.relay->stop();
}

// More datagrams at once than one coalesced batch (64) and than one epoll batch (32), both
// ways: every one arrives, in order, byte for byte, and the counters say so. (200: all are sent
// before the loop runs, and a loopback socket's default buffer holds ~256 of them.)
TEST_CASE("media relay: a burst larger than a batch arrives whole, in order") {
  const Engine engine = GENERATE(from_range(kEngines));
  INFO("engine " << int(engine.engine) << ", coalesce " << engine.coalesce_us);
  Fixture f(engine);
  REQUIRE(f.relay->start());
  Peer phone(f.io, "127.0.0.10"), vendor(f.io, "127.0.0.20");
  auto offer = f.relay->offer({"burst@example", 0, LegSide::lan, phone.endpoint(), std::nullopt, true});
  REQUIRE(offer);
  auto answer = f.relay->offer({"burst@example", 0, LegSide::uplink, vendor.endpoint(), std::nullopt, true});
  REQUIRE(answer);
  constexpr unsigned kBurst = 200;
  for (unsigned i = 0; i < kBurst; ++i) {
    phone.send(rtp(uint16_t(i), 0x11), offer->lan_rtp);
    vendor.send(rtp(uint16_t(1000 + i), 0x22), offer->uplink_rtp);
  }
  std::vector<std::vector<uint8_t>> at_vendor, at_phone;
  pump(f.io, [&] {
    for (auto& p : vendor.take()) at_vendor.push_back(std::move(p));
    for (auto& p : phone.take()) at_phone.push_back(std::move(p));
    return at_vendor.size() >= kBurst && at_phone.size() >= kBurst;
  });
  REQUIRE(at_vendor.size() == kBurst);
  REQUIRE(at_phone.size() == kBurst);
  for (unsigned i = 0; i < kBurst; ++i) {
    CHECK(at_vendor[i] == rtp(uint16_t(i), 0x11));
    CHECK(at_phone[i] == rtp(uint16_t(1000 + i), 0x22));
  }
  CHECK(f.metric("outpost_media_packets_to_vendor_total") == kBurst);
  CHECK(f.metric("outpost_media_packets_to_lan_total") == kBurst);
  f.relay->stop();
}

TEST_CASE("media relay: a BUNDLE direction is measured per SSRC, with the SDP's clock rates") {
  Fixture f;
  REQUIRE(f.relay->start());
  Peer phone(f.io, "127.0.0.10"), vendor(f.io, "127.0.0.20");
  const std::string call = "bundle@example";
  // WebRTC: rtcp-mux, audio PT 0 and video PT 96 (a=rtpmap:96 VP8/90000) on one 5-tuple.
  StreamOffer lan{call, 0, LegSide::lan, phone.endpoint(), phone.endpoint(), true};
  lan.clock_rates = {{0, 8000}, {96, 90000}};
  auto ports = f.relay->offer(lan);
  REQUIRE(ports);
  REQUIRE(f.relay->offer({call, 0, LegSide::uplink, vendor.endpoint(), vendor.endpoint(), true}));

  // Interleaved: audio SSRC ...a0 loses seq 3, video SSRC ...b0 loses nothing.
  auto packet = [](uint16_t seq, uint8_t pt, uint8_t fill) {
    auto p = rtp(seq, fill);
    p[1] = pt;
    return p;
  };
  size_t sent = 0;
  for (uint16_t s = 0; s < 8; ++s) {
    if (s != 3) phone.send(packet(s, 0, 0xa0), ports->lan_rtp), ++sent;
    phone.send(packet(uint16_t(500 + s), 96, 0xb0), ports->lan_rtp), ++sent;
  }
  size_t got = 0;
  pump(f.io, [&] {
    got += vendor.take().size();
    return got >= sent;
  });
  REQUIRE(got == sent);
  auto media = f.relay->call_media(call);
  REQUIRE(media.size() == 1);
  const Json& to_vendor = media[0]["to_vendor"];
  CHECK(to_vendor["packets"] == sent);
  CHECK(to_vendor["lost"] == 1);
  CHECK(to_vendor["mos"].is_number());
  REQUIRE(to_vendor["sources"].size() == 2);
  const Json& audio = to_vendor["sources"][0];
  const Json& video = to_vendor["sources"][1];
  CHECK(audio["ssrc"] == 0x010203a0u);
  CHECK(audio["clock_rate"] == 8000);
  CHECK(audio["packets"] == 7);
  CHECK(audio["lost"] == 1);
  CHECK(audio["mos"].is_number());
  CHECK(audio["remote"].is_null());
  CHECK(video["ssrc"] == 0x010203b0u);
  CHECK(video["clock_rate"] == 90000);
  CHECK(video["packets"] == 8);
  CHECK(video["lost"] == 0);
  CHECK(video["mos"].is_null());  // the E-model is for speech
  CHECK(to_vendor["mos"] == audio["mos"]);
  CHECK(media[0]["to_lan"]["sources"].empty());
  const CallMediaTotals totals = f.relay->call_totals(call);
  CHECK(totals.lost_to_vendor == 1);
  REQUIRE(totals.mos_min);
  CHECK(*totals.mos_min == audio["mos"].get<double>());
  f.relay->stop();
}

namespace {
// Sockets of this process bound to local:port and connected to peer:port, from the kernel's
// table (/proc/net/udp: hex address:port, state 01 = connected).
int connected_sockets(const Endpoint& local, const Endpoint& peer) {
  auto hex = [](const Endpoint& e) {
    const auto b = e.address.to_v4().to_bytes();  // network order; /proc prints the u32 as stored
    char text[32];
    std::snprintf(text, sizeof text, "%02X%02X%02X%02X:%04X", b[3], b[2], b[1], b[0], e.port);
    return std::string(text);
  };
  std::ifstream table("/proc/self/net/udp");
  std::string line;
  int found = 0;
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string slot, from, to, state;
    fields >> slot >> from >> to >> state;
    found += from == hex(local) && to == hex(peer) && state == "01";
  }
  return found;
}
}  // namespace

// io_uring engine: a leg sends out of a second socket on its port, connected to its peer (no
// route look-up per datagram). The peer's datagrams then arrive on that socket, anyone else's
// on the first: both must still be relayed and latched. Where connect(2) is refused (here a
// broadcast address without SO_BROADCAST), the leg sends addressed, and does not try that
// destination again per datagram.
TEST_CASE("media relay: io_uring legs send connected and fall back to addressed sends") {
  const std::vector<Engine> rings = {{MediaEngine::io_uring, 200}, {MediaEngine::io_uring, 0}};
  const Engine engine = GENERATE_REF(from_range(rings));
  INFO("coalesce " << engine.coalesce_us);
  Fixture f(engine);
  REQUIRE(f.relay->start());
  if (f.show("show media")["engine"] != "io_uring") {
    WARN("io_uring not allowed here: nothing to check");
    return;
  }
  Peer phone(f.io, "127.0.0.10"), vendor(f.io, "127.0.0.20"), vendor_moved(f.io, "127.0.0.20");
  const std::string call = "connected@example";
  auto ports = f.relay->offer({call, 0, LegSide::lan, phone.endpoint(), std::nullopt, true});
  REQUIRE(ports);
  // The port is shared only while outpost binds its two sockets: another socket, even of this
  // user and with SO_REUSEPORT, cannot bind it.
  {
    const int intruder = ::socket(AF_INET, SOCK_DGRAM, 0);
    const int on = 1;
    ::setsockopt(intruder, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
    const udp::endpoint at(ports->uplink_rtp.address, ports->uplink_rtp.port);
    CHECK(::bind(intruder, at.data(), socklen_t(at.size())) != 0);
    CHECK(errno == EADDRINUSE);
    ::close(intruder);
  }
  const Endpoint broadcast{asio::ip::make_address("255.255.255.255"), 9};
  REQUIRE(f.relay->offer({call, 0, LegSide::uplink, broadcast, std::nullopt, true}));

  // To a destination connect(2) refuses: no connected socket, sends fail and are counted.
  for (uint16_t s = 0; s < 3; ++s) phone.send(rtp(s, 0x31), ports->lan_rtp);
  pump(f.io, [&] { return f.metric("outpost_media_dropped_total", {{"reason", "send_failed"}}) >= 3; });
  CHECK(f.metric("outpost_media_dropped_total", {{"reason", "send_failed"}}) == 3);
  CHECK(f.metric("outpost_media_connect_failed_total") == 1);  // tried once, not per datagram

  // A re-INVITE to the real vendor: connected, and the bytes arrive from the uplink port.
  REQUIRE(f.relay->offer({call, 0, LegSide::uplink, vendor.endpoint(), std::nullopt, true}));
  phone.send(rtp(3, 0x31), ports->lan_rtp);
  std::vector<std::vector<uint8_t>> at_vendor;
  udp::endpoint from;
  receive(f.io, vendor, at_vendor, 1, &from);
  REQUIRE(at_vendor.size() == 1);
  CHECK(at_vendor[0] == rtp(3, 0x31));
  CHECK(from.port() == ports->uplink_rtp.port);
  CHECK(connected_sockets(ports->uplink_rtp, vendor.endpoint()) == 1);
  CHECK(f.metric("outpost_media_connect_failed_total") == 1);

  // The connected peer's datagrams (on the connected socket) latch the leg; a moved source's
  // (on the first socket) reach the phone too, and move the latch after three.
  for (uint16_t s = 0; s < 3; ++s) vendor.send(rtp(uint16_t(100 + s), 0x32), ports->uplink_rtp);
  std::vector<std::vector<uint8_t>> at_phone;
  receive(f.io, phone, at_phone, 3);
  CHECK(f.metric("outpost_media_latched_total") == 2);  // the LAN leg on the phone, this one on the vendor
  for (uint16_t s = 0; s < 3; ++s) vendor_moved.send(rtp(uint16_t(103 + s), 0x32), ports->uplink_rtp);
  receive(f.io, phone, at_phone, 6);
  CHECK(at_phone.size() == 6);
  CHECK(f.metric("outpost_media_relatched_total") == 1);
  // Now the uplink leg sends to the moved source: the same socket, connected anew.
  phone.send(rtp(4, 0x31), ports->lan_rtp);
  std::vector<std::vector<uint8_t>> at_moved;
  receive(f.io, vendor_moved, at_moved, 1);
  CHECK(at_moved.size() == 1);
  CHECK(vendor.take().empty());
  CHECK(connected_sockets(ports->uplink_rtp, vendor_moved.endpoint()) == 1);
  CHECK(connected_sockets(ports->uplink_rtp, vendor.endpoint()) == 0);
  CHECK(f.metric("outpost_media_packets_to_vendor_total") == 2);
  CHECK(f.metric("outpost_media_packets_to_lan_total") == 6);

  // The moved source's port closes for a moment. Two datagrams relayed in one turn: on
  // loopback the first one's ICMP port-unreachable comes back within its send, and the
  // connected socket reports it on the second send, which fails without sending. That one is
  // sent again, so both count as sent and none as failed. The port opens again (the same
  // port, a new socket): the next datagram arrives.
  const Endpoint moved = vendor_moved.endpoint();
  vendor_moved.socket.close();
  phone.send(rtp(5, 0x31), ports->lan_rtp);
  phone.send(rtp(6, 0x31), ports->lan_rtp);
  pump(f.io, [&] { return f.metric("outpost_media_packets_to_vendor_total") >= 4; });
  CHECK(f.metric("outpost_media_packets_to_vendor_total") == 4);
  CHECK(f.metric("outpost_media_dropped_total", {{"reason", "send_failed"}}) == 3);  // the broadcast ones
  Peer reopened(f.io, moved.address.to_string().c_str(), moved.port);
  phone.send(rtp(7, 0x31), ports->lan_rtp);
  std::vector<std::vector<uint8_t>> at_reopened;
  receive(f.io, reopened, at_reopened, 1);
  REQUIRE(at_reopened.size() == 1);
  CHECK(at_reopened[0] == rtp(7, 0x31));
  CHECK(f.metric("outpost_media_dropped_total", {{"reason", "send_failed"}}) == 3);
  f.relay->stop();
}
