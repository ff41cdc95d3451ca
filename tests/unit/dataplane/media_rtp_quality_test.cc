// Loss, jitter and MOS from synthetic RTP sequences; RFC 7983 classification.
#include <catch2/catch.hpp>
#include <vector>

#include "dataplane/media_rtp_quality.h"

using namespace outpost::media;

namespace {

std::vector<uint8_t> rtp(uint16_t seq, uint32_t ts, uint32_t ssrc = 0x11223344, uint8_t pt = 0) {
  std::vector<uint8_t> p(172, 0);
  p[0] = 0x80;
  p[1] = pt;
  p[2] = uint8_t(seq >> 8), p[3] = uint8_t(seq);
  for (int i = 0; i < 4; ++i) p[4 + i] = uint8_t(ts >> (24 - 8 * i)), p[8 + i] = uint8_t(ssrc >> (24 - 8 * i));
  return p;
}

constexpr int64_t kMs = 1'000'000;

// Feeds packets of a 20 ms G.711 stream (160 timestamp units each), arriving on time.
void feed(RtpQuality& q, uint16_t seq, int n, int64_t t0_ns = 0) {
  for (int i = 0; i < n; ++i) {
    auto p = rtp(uint16_t(seq + i), uint32_t((seq + i) * 160u));
    q.on_packet(p.data(), p.size(), t0_ns + int64_t(uint16_t(seq + i)) * 20 * kMs);
  }
}

}  // namespace

TEST_CASE("media rtp quality: classification by first byte (RFC 7983) and RTCP types (RFC 5761)") {
  uint8_t stun[20] = {0x00, 0x01};
  uint8_t dtls[20] = {22, 0xfe, 0xfd};
  uint8_t rtcp_rr[12] = {0x81, 201};
  uint8_t rtcp_pli[12] = {0x81, 206};
  auto media = rtp(1, 160);
  CHECK(classify_packet(stun, sizeof stun) == PacketKind::stun);
  CHECK(classify_packet(dtls, sizeof dtls) == PacketKind::dtls);
  CHECK(classify_packet(rtcp_rr, sizeof rtcp_rr) == PacketKind::rtcp);
  CHECK(classify_packet(rtcp_pli, sizeof rtcp_pli) == PacketKind::rtcp);
  CHECK(classify_packet(media.data(), media.size()) == PacketKind::rtp);
  CHECK(classify_packet(media.data(), 8) == PacketKind::other);  // shorter than an RTP header
  CHECK(classify_packet(nullptr, 0) == PacketKind::other);
}

TEST_CASE("media rtp quality: clock rates assumed per payload type") {
  CHECK(assumed_clock_rate(0) == 8000);
  CHECK(assumed_clock_rate(8) == 8000);
  CHECK(assumed_clock_rate(9) == 8000);
  CHECK(assumed_clock_rate(18) == 8000);
  CHECK(assumed_clock_rate(111) == 48000);
}

TEST_CASE("media rtp quality: no loss and no jitter for a perfect stream") {
  RtpQuality q;
  feed(q, 1000, 500);
  CHECK(q.rtp_packets() == 500);
  CHECK(q.expected() == 500);
  CHECK(q.lost() == 0);
  CHECK(q.jitter_ms() == Approx(0.0).margin(0.01));
  REQUIRE(q.mos());
  CHECK(*q.mos() > 4.3);
}

TEST_CASE("media rtp quality: gaps are lost packets, across the 16-bit wrap") {
  RtpQuality q;
  int64_t t = 0;
  for (uint32_t s = 65500; s < 65536 + 100; ++s) {
    if (s % 10 == 0) continue;  // every tenth packet lost
    auto p = rtp(uint16_t(s), s * 160);
    q.on_packet(p.data(), p.size(), t += 20 * kMs);
  }
  // 136 sent (65500..65635); losses at 65500 (the first, never seen: not counted), 65510..65630.
  CHECK(q.expected() == 135);
  CHECK(q.lost() == 13);
  REQUIRE(q.mos());
  CHECK(*q.mos() < 4.3);  // about 10 % loss
  CHECK(*q.mos() > 3.0);
}

TEST_CASE("media rtp quality: reordered and duplicated packets are not losses") {
  RtpQuality q;
  const uint16_t order[] = {1, 2, 4, 3, 5, 5, 7, 6, 8};
  for (uint16_t s : order) {
    auto p = rtp(s, s * 160u);
    q.on_packet(p.data(), p.size(), s * 20 * kMs);
  }
  CHECK(q.expected() == 8);
  CHECK(q.lost() == 0);
}

TEST_CASE("media rtp quality: a sequence restart is believed only when the next packet follows it") {
  RtpQuality q;
  feed(q, 100, 10);
  auto stray = rtp(40000, 5000);
  q.on_packet(stray.data(), stray.size(), 300 * kMs);  // one stray packet: ignored
  CHECK(q.expected() == 10);
  feed(q, 110, 5);
  CHECK(q.lost() == 0);
  for (uint16_t s = 30000; s < 30005; ++s) {  // the sender restarted its sequence
    auto p = rtp(s, s * 160u);
    q.on_packet(p.data(), p.size(), s * 20 * kMs);
  }
  CHECK(q.lost() == 0);
  CHECK(q.expected() == 4);  // counted from the restart
}

TEST_CASE("media rtp quality: interarrival jitter follows RFC 3550 A.8") {
  RtpQuality q;
  // Alternate arrivals 10 ms early and late: |D| = 20 ms = 160 units after the first pair;
  // J converges towards 160 units = 20 ms.
  for (int i = 0; i < 2000; ++i) {
    auto p = rtp(uint16_t(i), uint32_t(i * 160));
    const int64_t skew = (i % 2) ? 10 * kMs : -10 * kMs;
    q.on_packet(p.data(), p.size(), 1000 * kMs + i * 20 * kMs + skew);
  }
  CHECK(q.jitter_ms() == Approx(20.0).epsilon(0.01));
  CHECK(q.lost() == 0);
}

TEST_CASE("media rtp quality: a new SSRC starts the figures over") {
  RtpQuality q;
  feed(q, 1, 10);
  auto other = rtp(5000, 0, 0xdeadbeef);
  q.on_packet(other.data(), other.size(), 500 * kMs);
  CHECK(q.expected() == 1);
  CHECK(q.rtp_packets() == 11);
}

TEST_CASE("media rtp quality: non-RTP datagrams are ignored") {
  RtpQuality q;
  uint8_t rtcp_sr[28] = {0x80, 200};
  uint8_t stun[20] = {0x00, 0x01};
  q.on_packet(rtcp_sr, sizeof rtcp_sr, 0);
  q.on_packet(stun, sizeof stun, 0);
  CHECK(q.rtp_packets() == 0);
  CHECK_FALSE(q.mos());
}

TEST_CASE("media rtp quality: E-model MOS") {
  CHECK(e_model_mos(0, 20) == Approx(4.41).margin(0.02));  // R = 92.7: the G.711 ceiling
  CHECK(e_model_mos(0, 400) < 3.7);                          // long delay alone hurts
  CHECK(e_model_mos(5, 40) < e_model_mos(1, 40));
  CHECK(e_model_mos(1, 40) < e_model_mos(0, 40));
  CHECK(e_model_mos(100, 40) < 1.5);  // R about 16: everything lost
  CHECK(e_model_mos(-3, -5) <= 4.5);
}
