// The SDP rewriter with real SDP text and a fake media relay: what each side receives
// (exact lines), what the relay was offered, and bad input left unchanged and counted.
#include <catch2/catch.hpp>

#include <map>
#include <random>

#include "common/metrics.h"
#include "sipalg/sdp_rewrite.h"
#include "sipalg/sdp_text.h"

using namespace outpost;
using namespace outpost::sip;

namespace {

IpAddress ip(const char* text) { return *parse_address(text); }

// Deterministic ports: LAN 10000, 10002, ... and uplink 40000, 40002, ... per (call, m= index),
// the same ones again for a known stream, as the real relay promises.
class FakeRelay final : public media::MediaRelay {
 public:
  std::vector<media::StreamOffer> offers;
  std::vector<std::string> released;
  std::optional<std::string> fail;

  Result<media::StreamPorts> offer(const media::StreamOffer& o) override {
    offers.push_back(o);
    if (fail) return make_error(*fail);
    auto key = std::make_pair(o.call_id, o.index);
    auto it = streams_.find(key);
    if (it == streams_.end()) {
      media::StreamPorts p{{ip("10.20.0.1"), next_lan_},
                           {ip("10.20.0.1"), static_cast<uint16_t>(next_lan_ + 1)},
                           {ip("198.51.100.1"), next_uplink_},
                           {ip("198.51.100.1"), static_cast<uint16_t>(next_uplink_ + 1)}};
      next_lan_ += 2;
      next_uplink_ += 2;
      it = streams_.emplace(key, p).first;
    }
    return it->second;
  }
  void release(const std::string& call_id) override {
    released.push_back(call_id);
    std::erase_if(streams_, [&](const auto& s) { return s.first.first == call_id; });
  }
  nlohmann::json call_media(const std::string&) const override { return nlohmann::json::array(); }
  media::CallMediaTotals call_totals(const std::string&) const override { return {}; }
  std::string_view name() const override { return "fake-media"; }
  Result<void> start() override { return {}; }
  Result<void> reload(const config::Config&) override { return {}; }
  void stop() override {}
  Json status() const override { return Json::object(); }

 private:
  std::map<std::pair<std::string, unsigned>, media::StreamPorts> streams_;
  uint16_t next_lan_ = 10000, next_uplink_ = 40000;
};

struct Harness {
  MetricsRegistry metrics;
  std::shared_ptr<FakeRelay> relay = std::make_shared<FakeRelay>();
  RelaySdp sdp{relay, ip("10.20.0.1"), ip("198.51.100.1"), metrics};

  std::optional<std::string> from_lan(const std::string& body, const std::string& call = "c1") {
    return sdp.rewrite({Side::lan, call, "INVITE", 0}, body);
  }
  std::optional<std::string> from_vendor(const std::string& body, const std::string& call = "c1") {
    return sdp.rewrite({Side::uplink, call, "INVITE", 200}, body);
  }
  double count(const char* name) { return *metrics.value(std::string("outpost_sip_sdp_") + name + "_total"); }
};

std::string join(std::initializer_list<const char*> lines, const char* eol = "\r\n") {
  std::string s;
  for (const char* l : lines) s.append(l).append(eol);
  return s;
}

std::string opt(const std::optional<Endpoint>& e) { return e ? e->to_string() : "none"; }

const std::string kPhoneOffer = join({
    "v=0",
    "o=Yealink 1234 5678 IN IP4 10.20.0.10",
    "s=SDP data",
    "c=IN IP4 10.20.0.10",
    "t=0 0",
    "m=audio 11800 RTP/AVP 0 8 18 101",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:18 G729/8000",
    "a=fmtp:18 annexb=no",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-15",
    "a=ptime:20",
    "a=sendrecv",
});

// LF line endings, as some servers write them.
const std::string kVendorAnswer = join({"v=0", "o=- 3794749 3794750 IN IP4 203.0.113.50", "s=-",
                                        "c=IN IP4 203.0.113.50", "t=0 0", "m=audio 20000 RTP/AVP 8 101",
                                        "a=rtpmap:8 PCMA/8000", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16",
                                        "a=rtcp:20001", "a=ptime:20"},
                                       "\n");

const std::string kChromeOffer = join({
    "v=0",
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
    "s=-",
    "t=0 0",
    "a=group:BUNDLE 0 1",
    "a=extmap-allow-mixed",
    "a=msid-semantic: WMS stream1",
    "m=audio 54400 UDP/TLS/RTP/SAVPF 111 0 8 126",
    "c=IN IP4 10.20.0.30",
    "a=rtcp:9 IN IP4 0.0.0.0",
    "a=candidate:2999745851 1 udp 2122260223 10.20.0.30 54400 typ host generation 0 network-id 1",
    "a=candidate:1606961068 1 udp 2122194687 6f1e2d3c-aaaa-bbbb-cccc-0123456789ab.local 54401 typ host generation 0 "
    "network-id 2",
    "a=candidate:4233069003 1 tcp 1518280447 10.20.0.30 9 typ host tcptype active generation 0 network-id 1",
    "a=end-of-candidates",
    "a=ice-ufrag:Fs9d",
    "a=ice-pwd:xQmNWlDl2pg3w1fTgdGPVzZz",
    "a=ice-options:trickle",
    "a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08",
    "a=setup:actpass",
    "a=mid:0",
    "a=sendrecv",
    "a=msid:stream1 track1",
    "a=rtcp-mux",
    "a=rtpmap:111 opus/48000/2",
    "a=fmtp:111 minptime=10;useinbandfec=1",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:126 telephone-event/8000",
    "a=ssrc:1001 cname:abcd",
    "m=video 54400 UDP/TLS/RTP/SAVPF 96 97",
    "c=IN IP4 10.20.0.30",
    "a=rtcp:9 IN IP4 0.0.0.0",
    "a=candidate:2999745851 1 udp 2122260223 10.20.0.30 54400 typ host generation 0 network-id 1",
    "a=candidate:1606961068 1 udp 2122194687 6f1e2d3c-aaaa-bbbb-cccc-0123456789ab.local 54401 typ host generation 0 "
    "network-id 2",
    "a=end-of-candidates",
    "a=ice-ufrag:Fs9d",
    "a=ice-pwd:xQmNWlDl2pg3w1fTgdGPVzZz",
    "a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08",
    "a=setup:actpass",
    "a=mid:1",
    "a=sendrecv",
    "a=rtcp-mux",
    "a=rtcp-rsize",
    "a=rtpmap:96 VP8/90000",
    "a=rtpmap:97 rtx/90000",
    "a=fmtp:97 apt=96",
});

const std::string kTwoStreams = join({
    "v=0",
    "o=- 1 1 IN IP4 10.20.0.11",
    "s=-",
    "c=IN IP4 10.20.0.11",
    "t=0 0",
    "m=audio 5004 RTP/AVP 0",
    "a=candidate:1 1 UDP 2130706431 10.20.0.11 5004 typ host",
    "a=candidate:1 2 UDP 2130706430 10.20.0.11 5005 typ host",
    "a=candidate:2 1 UDP 1694498815 192.0.2.77 61000 typ srflx raddr 10.20.0.11 rport 5004",
    "a=candidate:2 2 UDP 1694498814 192.0.2.77 61001 typ srflx raddr 10.20.0.11 rport 5005",
    "a=remote-candidates:1 203.0.113.50 20000 2 203.0.113.50 20001",
    "a=ice-ufrag:8hhY",
    "a=ice-pwd:asd88fgpdd777uzjYhagZg",
    "m=video 5006 RTP/AVP 96",
    "a=rtpmap:96 H264/90000",
    "m=application 0 UDP/BFCP *",
    "c=IN IP4 10.20.0.11",
});

}  // namespace

TEST_CASE("a hardphone's G.711 offer and the vendor's answer name outpost on each side", "[sip][sdp]") {
  Harness h;
  auto offer = h.from_lan(kPhoneOffer);
  REQUIRE(offer);
  CHECK(*offer == join({
                      "v=0",
                      "o=Yealink 1234 5678 IN IP4 198.51.100.1",
                      "s=SDP data",
                      "c=IN IP4 198.51.100.1",
                      "t=0 0",
                      "m=audio 40000 RTP/AVP 0 8 18 101",
                      "a=rtpmap:0 PCMU/8000",
                      "a=rtpmap:8 PCMA/8000",
                      "a=rtpmap:18 G729/8000",
                      "a=fmtp:18 annexb=no",
                      "a=rtpmap:101 telephone-event/8000",
                      "a=fmtp:101 0-15",
                      "a=ptime:20",
                      "a=sendrecv",
                  }));
  REQUIRE(h.relay->offers.size() == 1);
  const auto& o = h.relay->offers[0];
  CHECK(o.call_id == "c1");
  CHECK(o.index == 0);
  CHECK(o.from == media::LegSide::lan);
  CHECK(opt(o.rtp) == "10.20.0.10:11800");
  CHECK(opt(o.rtcp) == "10.20.0.10:11801");
  CHECK_FALSE(o.rtcp_mux);

  auto answer = h.from_vendor(kVendorAnswer);
  REQUIRE(answer);
  CHECK(*answer == join({"v=0", "o=- 3794749 3794750 IN IP4 10.20.0.1", "s=-", "c=IN IP4 10.20.0.1", "t=0 0",
                         "m=audio 10000 RTP/AVP 8 101", "a=rtpmap:8 PCMA/8000", "a=rtpmap:101 telephone-event/8000",
                         "a=fmtp:101 0-16", "a=rtcp:10001", "a=ptime:20"},
                        "\n"));
  REQUIRE(h.relay->offers.size() == 2);
  CHECK(h.relay->offers[1].from == media::LegSide::uplink);
  CHECK(opt(h.relay->offers[1].rtp) == "203.0.113.50:20000");
  CHECK(opt(h.relay->offers[1].rtcp) == "203.0.113.50:20001");
  CHECK(h.count("rewritten") == 2);

  h.sdp.release("c1");
  CHECK(h.relay->released == std::vector<std::string>{"c1"});
}

TEST_CASE("a body without a final line ending keeps it that way", "[sip][sdp]") {
  Harness h;
  std::string body = kPhoneOffer.substr(0, kPhoneOffer.size() - 2);
  auto out = h.from_lan(body);
  REQUIRE(out);
  CHECK(out->ends_with("a=ptime:20\r\na=sendrecv"));
  CHECK(out->find("c=IN IP4 198.51.100.1\r\n") != std::string::npos);
}

TEST_CASE("a WebRTC offer: ICE candidates, mDNS, rtcp-mux, BUNDLE, DTLS kept end to end", "[sip][sdp]") {
  Harness h;
  auto out = h.from_lan(kChromeOffer);
  REQUIRE(out);
  CHECK(*out == join({
                    "v=0",
                    "o=- 4611731400430051336 2 IN IP4 198.51.100.1",
                    "s=-",
                    "t=0 0",
                    "a=group:BUNDLE 0 1",
                    "a=extmap-allow-mixed",
                    "a=msid-semantic: WMS stream1",
                    "m=audio 40000 UDP/TLS/RTP/SAVPF 111 0 8 126",
                    "c=IN IP4 198.51.100.1",
                    "a=rtcp:40000 IN IP4 198.51.100.1",
                    "a=candidate:1 1 udp 2130706431 198.51.100.1 40000 typ host",
                    "a=end-of-candidates",
                    "a=ice-ufrag:Fs9d",
                    "a=ice-pwd:xQmNWlDl2pg3w1fTgdGPVzZz",
                    "a=ice-options:trickle",
                    "a=fingerprint:sha-256 "
                    "7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08",
                    "a=setup:actpass",
                    "a=mid:0",
                    "a=sendrecv",
                    "a=msid:stream1 track1",
                    "a=rtcp-mux",
                    "a=rtpmap:111 opus/48000/2",
                    "a=fmtp:111 minptime=10;useinbandfec=1",
                    "a=rtpmap:0 PCMU/8000",
                    "a=rtpmap:8 PCMA/8000",
                    "a=rtpmap:126 telephone-event/8000",
                    "a=ssrc:1001 cname:abcd",
                    "m=video 40000 UDP/TLS/RTP/SAVPF 96 97",
                    "c=IN IP4 198.51.100.1",
                    "a=rtcp:40000 IN IP4 198.51.100.1",
                    "a=candidate:1 1 udp 2130706431 198.51.100.1 40000 typ host",
                    "a=end-of-candidates",
                    "a=ice-ufrag:Fs9d",
                    "a=ice-pwd:xQmNWlDl2pg3w1fTgdGPVzZz",
                    "a=fingerprint:sha-256 "
                    "7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08",
                    "a=setup:actpass",
                    "a=mid:1",
                    "a=sendrecv",
                    "a=rtcp-mux",
                    "a=rtcp-rsize",
                    "a=rtpmap:96 VP8/90000",
                    "a=rtpmap:97 rtx/90000",
                    "a=fmtp:97 apt=96",
                }));
  // BUNDLE: one transport, one offer (for the first bundled m= line).
  REQUIRE(h.relay->offers.size() == 1);
  CHECK(h.relay->offers[0].index == 0);
  CHECK(opt(h.relay->offers[0].rtp) == "10.20.0.30:54400");
  CHECK(opt(h.relay->offers[0].rtcp) == "10.20.0.30:54400");
  CHECK(h.relay->offers[0].rtcp_mux);
  CHECK(out->find("10.20.0.") == std::string::npos);
  CHECK(out->find(".local") == std::string::npos);
  // The clock rates of both bundled m= lines go with the one offer (the relay's quality figures).
  std::map<unsigned, uint32_t> rates;
  for (const auto& r : h.relay->offers[0].clock_rates) rates[r.payload_type] = r.hz;
  CHECK(rates == std::map<unsigned, uint32_t>{{0, 8000}, {8, 8000}, {96, 90000}, {97, 90000}, {111, 48000}, {126, 8000}});
}

TEST_CASE("a=rtpmap: payload type and clock rate, channels and name case aside", "[sip][sdp]") {
  auto opus = sdp::parse_rtpmap("111 opus/48000/2");
  REQUIRE(opus);
  CHECK(opus->payload_type == 111);
  CHECK(opus->encoding == "opus");
  CHECK(opus->clock_rate == 48000);
  auto vp8 = sdp::parse_rtpmap("96 VP8/90000");
  REQUIRE(vp8);
  CHECK(vp8->payload_type == 96);
  CHECK(vp8->clock_rate == 90000);
  auto upper = sdp::parse_rtpmap("0 PCMU/8000");
  auto lower = sdp::parse_rtpmap("0 pcmu/8000");
  REQUIRE(upper);
  REQUIRE(lower);
  CHECK(upper->clock_rate == lower->clock_rate);
  CHECK(sdp::parse_rtpmap("97  H264/90000")->clock_rate == 90000);  // runs of spaces
  CHECK_FALSE(sdp::parse_rtpmap("96 H264"));         // no rate
  CHECK_FALSE(sdp::parse_rtpmap("96 H264/"));        // empty rate
  CHECK_FALSE(sdp::parse_rtpmap("96 H264/0"));
  CHECK_FALSE(sdp::parse_rtpmap("96 H264/9k"));
  CHECK_FALSE(sdp::parse_rtpmap("96 /90000"));       // no name
  CHECK_FALSE(sdp::parse_rtpmap("128 VP8/90000"));   // not a payload type
  CHECK_FALSE(sdp::parse_rtpmap("x VP8/90000"));
  CHECK_FALSE(sdp::parse_rtpmap("96"));
  CHECK_FALSE(sdp::parse_rtpmap(""));
}

TEST_CASE("unreadable a=rtpmap lines are skipped, the body still rewritten byte for byte", "[sip][sdp]") {
  Harness h;
  auto body = join({"v=0", "o=- 1 1 IN IP4 10.20.0.10", "s=-", "c=IN IP4 10.20.0.10", "t=0 0",
                    "m=audio 11800 RTP/AVP 0 96 97", "a=rtpmap:0 PCMU/8000", "a=rtpmap:96 broken",
                    "a=rtpmap:97 telephone-event/8000"});
  auto out = h.from_lan(body);
  REQUIRE(out);
  CHECK(out->find("a=rtpmap:96 broken\r\na=rtpmap:97 telephone-event/8000\r\n") != std::string::npos);
  REQUIRE(h.relay->offers.size() == 1);
  std::map<unsigned, uint32_t> rates;
  for (const auto& r : h.relay->offers[0].clock_rates) rates[r.payload_type] = r.hz;
  CHECK(rates == std::map<unsigned, uint32_t>{{0, 8000}, {97, 8000}});
}

TEST_CASE("WebRTC with c=0.0.0.0 and only mDNS or real candidates is not a hold", "[sip][sdp]") {
  Harness h;
  std::string body = join({
      "v=0",
      "o=- 77 2 IN IP4 127.0.0.1",
      "s=-",
      "t=0 0",
      "m=audio 9 UDP/TLS/RTP/SAVPF 111",
      "c=IN IP4 0.0.0.0",
      "a=rtcp:9 IN IP4 0.0.0.0",
      "a=candidate:1 1 udp 2122260223 6f1e2d3c-aaaa-bbbb-cccc-0123456789ab.local 54401 typ host",
      "a=candidate:2 1 udp 2122194687 10.20.0.31 54402 typ host",
      "a=ice-ufrag:Fs9d",
      "a=rtcp-mux",
  });
  auto out = h.from_lan(body);
  REQUIRE(out);
  CHECK(*out == join({
                    "v=0",
                    "o=- 77 2 IN IP4 198.51.100.1",
                    "s=-",
                    "t=0 0",
                    "m=audio 40000 UDP/TLS/RTP/SAVPF 111",
                    "c=IN IP4 198.51.100.1",
                    "a=rtcp:40000 IN IP4 198.51.100.1",
                    "a=candidate:1 1 udp 2130706431 198.51.100.1 40000 typ host",
                    "a=ice-ufrag:Fs9d",
                    "a=rtcp-mux",
                }));
  CHECK(opt(h.relay->offers.at(0).rtp) == "10.20.0.31:54402");
}

TEST_CASE("several m= lines: own ports each, RTCP candidates, remote-candidates dropped, port 0 left alone",
          "[sip][sdp]") {
  Harness h;
  auto out = h.from_lan(kTwoStreams);
  REQUIRE(out);
  CHECK(*out == join({
                    "v=0",
                    "o=- 1 1 IN IP4 198.51.100.1",
                    "s=-",
                    "c=IN IP4 198.51.100.1",
                    "t=0 0",
                    "m=audio 40000 RTP/AVP 0",
                    "a=candidate:1 1 udp 2130706431 198.51.100.1 40000 typ host",
                    "a=candidate:1 2 udp 2130706430 198.51.100.1 40001 typ host",
                    "a=ice-ufrag:8hhY",
                    "a=ice-pwd:asd88fgpdd777uzjYhagZg",
                    "m=video 40002 RTP/AVP 96",
                    "a=rtpmap:96 H264/90000",
                    "m=application 0 UDP/BFCP *",
                    "c=IN IP4 198.51.100.1",  // a rejected stream keeps its port, not the LAN address
                }));
  REQUIRE(h.relay->offers.size() == 2);
  CHECK(h.relay->offers[0].index == 0);
  CHECK(opt(h.relay->offers[0].rtp) == "10.20.0.11:5004");
  CHECK(opt(h.relay->offers[0].rtcp) == "10.20.0.11:5005");
  CHECK(h.relay->offers[1].index == 1);
  CHECK(opt(h.relay->offers[1].rtp) == "10.20.0.11:5006");
}

TEST_CASE("a re-INVITE gets the same relay ports, a new call new ones", "[sip][sdp]") {
  Harness h;
  auto first = h.from_lan(kPhoneOffer);
  std::string reinvite = kPhoneOffer;
  reinvite.replace(reinvite.find("5678"), 4, "5679");
  reinvite.replace(reinvite.find("11800"), 5, "11900");
  auto second = h.from_lan(reinvite);
  REQUIRE(first);
  REQUIRE(second);
  CHECK(second->find("m=audio 40000 RTP/AVP") != std::string::npos);
  CHECK(second->find("o=Yealink 1234 5679 IN IP4 198.51.100.1") != std::string::npos);  // version as sent
  CHECK(opt(h.relay->offers.at(1).rtp) == "10.20.0.10:11900");
  // The vendor's answers (183, then 200) land on the same LAN ports.
  auto early = h.sdp.rewrite({Side::uplink, "c1", "INVITE", 183}, kVendorAnswer);
  auto final = h.sdp.rewrite({Side::uplink, "c1", "INVITE", 200}, kVendorAnswer);
  REQUIRE(early);
  CHECK(*early == *final);
  auto other = h.from_lan(kPhoneOffer, "c2");
  CHECK(other->find("m=audio 40002 RTP/AVP") != std::string::npos);
}

TEST_CASE("hold: c=0.0.0.0 stays, a=sendonly and a=inactive keep outpost's address", "[sip][sdp]") {
  Harness h;
  SECTION("c=0.0.0.0") {
    std::string body = kPhoneOffer;
    body.replace(body.find("c=IN IP4 10.20.0.10"), 19, "c=IN IP4 0.0.0.0");
    auto out = h.from_lan(body);
    REQUIRE(out);
    CHECK(out->find("\r\nc=IN IP4 0.0.0.0\r\n") != std::string::npos);
    CHECK(out->find("m=audio 40000 RTP/AVP") != std::string::npos);
    CHECK(out->find("o=Yealink 1234 5678 IN IP4 198.51.100.1") != std::string::npos);
    CHECK_FALSE(h.relay->offers.at(0).rtp);
    CHECK_FALSE(h.relay->offers.at(0).rtcp);
  }
  SECTION("a=sendonly") {
    std::string body = kPhoneOffer;
    body.replace(body.find("a=sendrecv"), 10, "a=sendonly");
    auto out = h.from_lan(body);
    REQUIRE(out);
    CHECK(out->find("\r\nc=IN IP4 198.51.100.1\r\n") != std::string::npos);
    CHECK(out->ends_with("a=ptime:20\r\na=sendonly\r\n"));
    CHECK(opt(h.relay->offers.at(0).rtp) == "10.20.0.10:11800");
  }
  SECTION("a=inactive") {
    std::string body = kPhoneOffer;
    body.replace(body.find("a=sendrecv"), 10, "a=inactive");
    auto out = h.from_lan(body);
    REQUIRE(out);
    CHECK(out->find("\r\nc=IN IP4 198.51.100.1\r\n") != std::string::npos);
    CHECK(out->ends_with("a=inactive\r\n"));
    CHECK_FALSE(h.relay->offers.at(0).rtp);
  }
  SECTION("session c=0.0.0.0 covering a held stream and an ICE stream: the held one gets its own c=") {
    std::string body = join({
        "v=0",
        "o=- 5 5 IN IP4 10.20.0.12",
        "s=-",
        "c=IN IP4 0.0.0.0",
        "t=0 0",
        "m=audio 4000 RTP/AVP 0",
        "i=held line",
        "a=sendonly",
        "m=audio 4002 RTP/AVP 0",
        "a=ice-ufrag:x",
        "a=candidate:1 1 udp 2130706431 10.20.0.12 4002 typ host",
    });
    auto out = h.from_lan(body);
    REQUIRE(out);
    CHECK(*out == join({
                      "v=0",
                      "o=- 5 5 IN IP4 198.51.100.1",
                      "s=-",
                      "c=IN IP4 198.51.100.1",
                      "t=0 0",
                      "m=audio 40000 RTP/AVP 0",
                      "i=held line",
                      "c=IN IP4 0.0.0.0",
                      "a=sendonly",
                      "m=audio 40002 RTP/AVP 0",
                      "a=ice-ufrag:x",
                      "a=candidate:1 1 udp 2130706431 198.51.100.1 40002 typ host",
                  }));
  }
}

TEST_CASE("IPv6 SDP from the vendor reaches a v4 LAN as IN IP4", "[sip][sdp]") {
  Harness h;
  std::string body = join({"v=0", "o=vendor 9 9 IN IP6 2001:db8::50", "s=-", "c=IN IP6 2001:db8::50", "t=0 0",
                           "m=audio 20000 RTP/AVP 0", "a=rtcp:20001 IN IP6 2001:db8::51"});
  auto out = h.from_vendor(body);
  REQUIRE(out);
  CHECK(*out == join({"v=0", "o=vendor 9 9 IN IP4 10.20.0.1", "s=-", "c=IN IP4 10.20.0.1", "t=0 0",
                      "m=audio 10000 RTP/AVP 0", "a=rtcp:10001 IN IP4 10.20.0.1"}));
  CHECK(opt(h.relay->offers.at(0).rtp) == "[2001:db8::50]:20000");
  CHECK(opt(h.relay->offers.at(0).rtcp) == "[2001:db8::51]:20001");
}

TEST_CASE("relay errors and a missing uplink address leave the body unchanged, counted", "[sip][sdp]") {
  Harness h;
  h.relay->fail = "no free ports";
  CHECK_FALSE(h.from_lan(kPhoneOffer));
  CHECK(h.count("unchanged_relay_error") == 1);
  CHECK(h.sdp.last_error() == "stream 0: no free ports");
  h.relay->fail.reset();

  RelaySdp no_uplink{h.relay, ip("10.20.0.1"), IpAddress{}, h.metrics};
  CHECK_FALSE(no_uplink.rewrite({Side::lan, "c9", "INVITE", 0}, kPhoneOffer));
  CHECK(h.count("unchanged_no_address") == 1);
  CHECK(no_uplink.rewrite({Side::uplink, "c9", "INVITE", 200}, kVendorAnswer));  // the LAN side is known
  no_uplink.set_uplink_address(ip("198.51.100.7"));
  auto out = no_uplink.rewrite({Side::lan, "c9", "INVITE", 0}, kPhoneOffer);
  REQUIRE(out);
  CHECK(out->find("c=IN IP4 198.51.100.7\r\n") != std::string::npos);
  CHECK(h.count("rewritten") == 2);
}

TEST_CASE("malformed SDP is left unchanged and counted", "[sip][sdp]") {
  Harness h;
  auto bad = [&](std::string body) { return !h.from_lan(body); };
  CHECK(bad(""));
  CHECK(bad("hello"));
  CHECK(bad(join({"o=- 1 1 IN IP4 10.20.0.10", "v=0"})));                                          // v= not first
  CHECK(bad(join({"v=0", "o=- 1 1 IN IP4 10.20.0.10", "s=-", "t=0 0", "m=audio 4000 RTP/AVP 0"})));  // no c=
  CHECK(bad(join({"v=0", "o=- 1 1 IN IP4 10.20.0.10", "c=IN IP4 10.20.0.10", "m=audio abc RTP/AVP 0"})));
  CHECK(bad(join({"v=0", "o=- 1 1 IN IP4 10.20.0.10", "c=IN IP4 10.20.0.10", "m=audio 70000 RTP/AVP 0"})));
  CHECK(bad(join({"v=0", "o=- 1 1 IN IP4 10.20.0.10", "c=IN IP4 10.20.0.10", "m=audio"})));
  CHECK(bad(join({"v=0", "o=- 1 1 IN IP4 10.20.0.10", "c=IN IP4 pbx.example", "m=audio 4000 RTP/AVP 0"})));
  CHECK(bad(join({"v=0", "o=- 1 1 IN IP4 10.20.0.10", "c=IN IP4 10.20.0.10", "m=audio 4000 RTP/AVP 0",
                  "a=rtcp:x"})));
  CHECK(bad(join({"v=0", "s=-", "c=IN IP4 10.20.0.10", "m=audio 4000 RTP/AVP 0"})));  // no o=
  CHECK(bad(std::string("v=0\r\no=- 1 1 IN IP4 10.20.0.10\r\n\0\r\n", 33)));
  CHECK(h.count("unchanged_malformed") == 11);

  std::string huge = kPhoneOffer + std::string(70000, 'a');
  CHECK(bad(huge));
  std::string many = kPhoneOffer;
  for (int i = 0; i < 70; ++i) many += "m=audio 4000 RTP/AVP 0\r\n";
  CHECK(bad(many));
  CHECK(h.count("unchanged_oversize") == 2);
  CHECK(h.relay->offers.empty());
  CHECK(h.count("rewritten") == 0);
}

TEST_CASE("truncated and mutated SDP never crashes and is always counted", "[sip][sdp]") {
  Harness h;
  std::mt19937 rng(20261123);
  uint64_t calls = 0;
  for (const std::string* body : {&kPhoneOffer, &kVendorAnswer, &kChromeOffer, &kTwoStreams}) {
    for (size_t n = 0; n <= body->size(); ++n) {
      h.from_lan(body->substr(0, n), "t" + std::to_string(n));
      ++calls;
    }
    for (int i = 0; i < 2000; ++i) {
      std::string m = *body;
      for (int k = 0; k < 4; ++k) {
        size_t at = rng() % m.size();
        switch (rng() % 3) {
          case 0: m[at] = static_cast<char>(rng() % 256); break;
          case 1: m.erase(at, rng() % 16); break;
          default: m.insert(at, std::string(1 + rng() % 4, " \r\n=:/0"[rng() % 7])); break;
        }
        if (m.empty()) m = "v";
      }
      h.sdp.rewrite({rng() % 2 ? Side::lan : Side::uplink, "f" + std::to_string(i), "INVITE", 0}, m);
      ++calls;
    }
  }
  double counted = h.count("rewritten") + h.count("unchanged_malformed") + h.count("unchanged_oversize") +
                   h.count("unchanged_no_address") + h.count("unchanged_relay_error");
  CHECK(counted == static_cast<double>(calls));
}

TEST_CASE("the vendor's WebRTC answer reaches the browser with LAN ports, bundled lines sharing them", "[sip][sdp]") {
  Harness h;
  REQUIRE(h.from_lan(kChromeOffer));
  std::string answer = join({
      "v=0",
      "o=- 1700 1700 IN IP4 203.0.113.60",
      "s=-",
      "t=0 0",
      "a=group:BUNDLE 0 1",
      "a=ice-lite",
      "m=audio 30000 UDP/TLS/RTP/SAVPF 111",
      "c=IN IP4 203.0.113.60",
      "a=candidate:9 1 udp 2130706431 203.0.113.60 30000 typ host",
      "a=end-of-candidates",
      "a=ice-ufrag:Vnd1",
      "a=ice-pwd:vendorpasswordvendorpass",
      "a=setup:passive",
      "a=mid:0",
      "a=rtcp-mux",
      "m=video 30000 UDP/TLS/RTP/SAVPF 96",
      "c=IN IP4 203.0.113.60",
      "a=mid:1",
      "a=rtcp-mux",
  });
  auto out = h.from_vendor(answer);
  REQUIRE(out);
  CHECK(*out == join({
                    "v=0",
                    "o=- 1700 1700 IN IP4 10.20.0.1",
                    "s=-",
                    "t=0 0",
                    "a=group:BUNDLE 0 1",
                    "a=ice-lite",
                    "m=audio 10000 UDP/TLS/RTP/SAVPF 111",
                    "c=IN IP4 10.20.0.1",
                    "a=candidate:1 1 udp 2130706431 10.20.0.1 10000 typ host",
                    "a=end-of-candidates",
                    "a=ice-ufrag:Vnd1",
                    "a=ice-pwd:vendorpasswordvendorpass",
                    "a=setup:passive",
                    "a=mid:0",
                    "a=rtcp-mux",
                    "m=video 10000 UDP/TLS/RTP/SAVPF 96",
                    "c=IN IP4 10.20.0.1",
                    "a=mid:1",
                    "a=rtcp-mux",
                }));
  REQUIRE(h.relay->offers.size() == 2);
  CHECK(h.relay->offers[1].from == media::LegSide::uplink);
  CHECK(h.relay->offers[1].index == 0);
  CHECK(opt(h.relay->offers[1].rtp) == "203.0.113.60:30000");
  // A re-offer from the browser (ICE restart keeps the transport) lands on the same ports.
  auto again = h.from_lan(kChromeOffer);
  REQUIRE(again);
  CHECK(again->find("m=video 40000 UDP/TLS/RTP/SAVPF 96 97") != std::string::npos);
}
