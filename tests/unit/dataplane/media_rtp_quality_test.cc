// Loss, jitter and MOS from synthetic RTP sequences; RFC 7983 classification.
#include <catch2/catch.hpp>
#include <algorithm>
#include <initializer_list>
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

void feed(SourceQualities& q, uint16_t seq, int n, int64_t t0_ns = 0) {
  for (int i = 0; i < n; ++i) {
    auto p = rtp(uint16_t(seq + i), uint32_t((seq + i) * 160u));
    q.on_packet(p.data(), p.size(), t0_ns + int64_t(uint16_t(seq + i)) * 20 * kMs, ClockRates{});
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

namespace {

void put32(std::vector<uint8_t>& p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p.push_back(uint8_t(v >> (24 - 8 * i)));
}

// One RTCP packet header: version 2, `count` in the low 5 bits, length in 32-bit words - 1.
void header(std::vector<uint8_t>& p, uint8_t type, unsigned count, size_t bytes) {
  p.push_back(uint8_t(0x80 | count));
  p.push_back(type);
  const size_t words = bytes / 4 - 1;
  p.push_back(uint8_t(words >> 8));
  p.push_back(uint8_t(words));
}

void block(std::vector<uint8_t>& p, uint32_t ssrc, uint8_t fraction, int32_t cumulative, uint32_t jitter,
           uint32_t lsr, uint32_t dlsr) {
  put32(p, ssrc);
  p.push_back(fraction);
  const uint32_t c = uint32_t(cumulative) & 0xffffff;
  p.push_back(uint8_t(c >> 16)), p.push_back(uint8_t(c >> 8)), p.push_back(uint8_t(c));
  put32(p, 1000);  // extended highest sequence number
  put32(p, jitter);
  put32(p, lsr);
  put32(p, dlsr);
}

// SR from `ssrc` with NTP time (msw, lsw), no blocks, followed by an SDES chunk as real
// compounds carry (RFC 3550 6.1: every compound has a CNAME).
std::vector<uint8_t> sender_report(uint32_t ssrc, uint32_t msw, uint32_t lsw) {
  std::vector<uint8_t> p;
  header(p, 200, 0, 28);
  put32(p, ssrc), put32(p, msw), put32(p, lsw), put32(p, 160), put32(p, 50), put32(p, 8000);
  header(p, 202, 1, 12);
  put32(p, ssrc);
  p.insert(p.end(), {1, 1, 'x', 0});
  return p;
}

std::vector<uint8_t> receiver_report(uint32_t from, uint32_t about, uint8_t fraction, int32_t cumulative,
                                     uint32_t jitter, uint32_t lsr, uint32_t dlsr) {
  std::vector<uint8_t> p;
  header(p, 201, 1, 32);
  put32(p, from);
  block(p, about, fraction, cumulative, jitter, lsr, dlsr);
  return p;
}

}  // namespace

TEST_CASE("media rtp quality: RTCP compounds parse per RFC 3550, SRTCP and garbage do not") {
  RtcpCompound c;
  auto sr = sender_report(0xaaaa0001, 0x12345678, 0x9abcdef0);
  REQUIRE(parse_rtcp(sr.data(), sr.size(), c));
  REQUIRE(c.sender_report_count == 1);
  CHECK(c.sender_reports[0].ssrc == 0xaaaa0001);
  CHECK(c.sender_reports[0].ntp_middle == 0x56789abc);
  CHECK(c.block_count == 0);

  auto rr = receiver_report(0xbbbb0002, 0x11223344, 64, -3, 400, 0x56789abc, 65536 / 2);
  REQUIRE(parse_rtcp(rr.data(), rr.size(), c));
  CHECK(c.sender_report_count == 0);
  REQUIRE(c.block_count == 1);
  CHECK(c.blocks[0].ssrc == 0x11223344);
  CHECK(c.blocks[0].fraction_lost == 64);
  CHECK(c.blocks[0].cumulative_lost == -3);  // 24-bit signed: duplicates make it negative
  CHECK(c.blocks[0].jitter == 400);
  CHECK(c.blocks[0].lsr == 0x56789abc);
  CHECK(c.blocks[0].dlsr == 32768);

  // SRTCP: the same compound plus E flag/index and a 10-byte tag: lengths no longer add up.
  auto srtcp = rr;
  srtcp.insert(srtcp.end(), 14, 0x5a);
  CHECK_FALSE(parse_rtcp(srtcp.data(), srtcp.size(), c));
  // Truncated, wrong version, padding on the first packet, a feedback packet first.
  CHECK_FALSE(parse_rtcp(rr.data(), rr.size() - 4, c));
  auto v1 = rr;
  v1[0] = 0x41;
  CHECK_FALSE(parse_rtcp(v1.data(), v1.size(), c));
  auto padded = rr;
  padded[0] |= 0x20;
  CHECK_FALSE(parse_rtcp(padded.data(), padded.size(), c));
  auto pli = rr;
  pli[1] = 206;
  CHECK_FALSE(parse_rtcp(pli.data(), pli.size(), c));
  // A length field pointing past the end.
  auto longer = rr;
  longer[3] = 0xff;
  CHECK_FALSE(parse_rtcp(longer.data(), longer.size(), c));
  // More blocks claimed than there are bytes: the ones present are read, the rest ignored.
  auto claimed = rr;
  claimed[0] = 0x80 | 5;
  REQUIRE(parse_rtcp(claimed.data(), claimed.size(), c));
  CHECK(c.block_count == 1);
}

TEST_CASE("media rtp quality: the far receiver's report and the round trip through outpost") {
  // Direction A->B carries RTP from SSRC 0x11223344; B sends reports on it the other way.
  SourceQualities a_to_b_sources, b_to_a;
  feed(a_to_b_sources, 1, 100, 1000 * kMs);  // outpost saw all 100 packets
  REQUIRE(a_to_b_sources.find(0x11223344));
  const RtpQuality& a_to_b = *a_to_b_sources.find(0x11223344);
  CHECK_FALSE(a_to_b.remote());
  const double mos_clean = *a_to_b.mos();

  // A's sender report passes outpost toward B at t = 3000 ms.
  auto sr = sender_report(0x11223344, 0x12345678, 0x9abcdef0);
  REQUIRE(apply_rtcp(sr.data(), sr.size(), 3000 * kMs, a_to_b_sources, b_to_a));
  // B answers 100 ms later having held the SR for 40 ms: 60 ms between outpost and B and back.
  // B lost 5 of the 100 (beyond outpost), jitter 160 units = 20 ms at 8 kHz.
  auto rr = receiver_report(0x55667788, 0x11223344, 13, 5, 160, 0x56789abc, 65536 * 40 / 1000);
  REQUIRE(apply_rtcp(rr.data(), rr.size(), 3100 * kMs, b_to_a, a_to_b_sources));
  REQUIRE(a_to_b.remote());
  const RemoteReport& r = *a_to_b.remote();
  CHECK(r.cumulative_lost == 5);
  CHECK(r.fraction_lost_pct == Approx(13 * 100.0 / 256));
  CHECK(r.jitter_ms == Approx(20.0));
  REQUIRE(r.rtt_ms);
  CHECK(*r.rtt_ms == Approx(60.0).margin(0.1));
  CHECK(a_to_b.lost() == 0);  // outpost's own count is unchanged
  // 5 % loss end to end is worse than what outpost saw alone.
  CHECK(*a_to_b.mos() < mos_clean - 0.3);
  CHECK(*a_to_b.mos() == Approx(e_model_mos(5.0, 20.0 + 2 * 20.0 + 30.0)).margin(0.01));
  CHECK(b_to_a.count() == 0);  // B sent no RTP: nothing to report on, nothing reported

  // A report about a source outpost does not relay is ignored; an LSR outpost never saw
  // keeps the last round trip.
  auto other = receiver_report(0x55667788, 0x0badf00d, 255, 90, 0, 0, 0);
  REQUIRE(apply_rtcp(other.data(), other.size(), 3200 * kMs, b_to_a, a_to_b_sources));
  CHECK(a_to_b.remote()->cumulative_lost == 5);
  auto stale = receiver_report(0x55667788, 0x11223344, 0, 6, 160, 0x01020304, 0);
  REQUIRE(apply_rtcp(stale.data(), stale.size(), 3300 * kMs, b_to_a, a_to_b_sources));
  CHECK(a_to_b.remote()->cumulative_lost == 6);
  REQUIRE(a_to_b.remote()->rtt_ms);
  CHECK(*a_to_b.remote()->rtt_ms == Approx(60.0).margin(0.1));

  // A new source (re-INVITE, failover) starts without reports; the old one keeps its own.
  auto fresh = rtp(1, 160, 0x99999999);
  a_to_b_sources.on_packet(fresh.data(), fresh.size(), 4000 * kMs, ClockRates{});
  REQUIRE(a_to_b_sources.find(0x99999999));
  CHECK_FALSE(a_to_b_sources.find(0x99999999)->remote());
  CHECK(a_to_b.remote());
  // One RtpQuality alone still restarts on a new SSRC, dropping the reports.
  RtpQuality single = a_to_b;
  single.on_packet(fresh.data(), fresh.size(), 4000 * kMs);
  CHECK_FALSE(single.remote());
}

TEST_CASE("media rtp quality: SDP clock rates override the assumed ones") {
  ClockRates rates;
  CHECK(rates.rate(96) == 48000);
  CHECK(rates.rate(0) == 8000);
  rates.set(96, 90000);
  rates.set(97, 0);      // ignored
  rates.set(200, 8000);  // not a payload type: ignored
  CHECK(rates.rate(96) == 90000);
  CHECK(rates.rate(97) == 48000);
  CHECK(rates.rate(0) == 8000);
}

namespace {
// Interleaved BUNDLE direction: SSRC A, PCMU (PT 0, 8 kHz, 160 units per 20 ms) and SSRC V,
// PT 96 (90 kHz per the SDP, 1800 units per 20 ms). A loses `a_lost` packets; V's packets
// arrive `v_late_ms` late every other packet (known jitter), A's on time.
constexpr uint32_t kAudio = 0xa0a0a0a0, kVideo = 0xb1b1b1b1;

void feed_bundle(SourceQualities& q, const ClockRates& rates, uint16_t first, int n, int64_t t0_ns,
                 int v_late_ms = 0, std::initializer_list<int> a_lost = {}) {
  for (int i = 0; i < n; ++i) {
    const uint16_t seq = uint16_t(first + i);
    const int64_t at = t0_ns + int64_t(i) * 20 * kMs;
    if (std::find(a_lost.begin(), a_lost.end(), i) == a_lost.end()) {
      auto a = rtp(seq, uint32_t(seq) * 160u, kAudio, 0);
      q.on_packet(a.data(), a.size(), at, rates);
    }
    auto v = rtp(uint16_t(seq + 5000), uint32_t(seq) * 1800u, kVideo, 96);
    q.on_packet(v.data(), v.size(), at + (i % 2 ? v_late_ms * kMs : 0), rates);
  }
}
}  // namespace

TEST_CASE("media rtp quality: two interleaved SSRCs (BUNDLE) are measured apart") {
  ClockRates rates;
  rates.set(96, 90000);  // a=rtpmap:96 VP8/90000
  SourceQualities q;
  feed_bundle(q, rates, 100, 200, 1000 * kMs, 0, {50, 51, 120});
  REQUIRE(q.count() == 2);
  const RtpQuality* a = q.find(kAudio);
  const RtpQuality* v = q.find(kVideo);
  REQUIRE(a);
  REQUIRE(v);
  CHECK(a->clock_rate() == 8000);
  CHECK(v->clock_rate() == 90000);
  CHECK(a->rtp_packets() == 197);
  CHECK(a->lost() == 3);
  CHECK(a->jitter_ms() == 0.0);
  CHECK(v->rtp_packets() == 200);
  CHECK(v->lost() == 0);
  CHECK(v->jitter_ms() == 0.0);
  CHECK(q.lost() == 3);
  CHECK(q.worst_jitter_ms() == 0.0);
  REQUIRE(q.worst_mos());
  CHECK(*q.worst_mos() == Approx(*a->mos()));
  CHECK(*q.worst_mos() == Approx(e_model_mos(100.0 * 3 / 200, 20.0)).margin(0.001));
  CHECK_FALSE(a->video());
  CHECK(v->video());

  // One tracker for the whole direction (as before SourceQualities): every packet of the other
  // SSRC restarts it, so the audio loss is never seen.
  RtpQuality single;
  for (int i = 0; i < 200; ++i) {
    if (i == 50 || i == 51 || i == 120) continue;
    auto au = rtp(uint16_t(100 + i), uint32_t(100 + i) * 160u, kAudio, 0);
    auto vi = rtp(uint16_t(5100 + i), uint32_t(100 + i) * 1800u, kVideo, 96);
    single.on_packet(au.data(), au.size(), 1000 * kMs + i * 20 * kMs);
    single.on_packet(vi.data(), vi.size(), 1000 * kMs + i * 20 * kMs);
  }
  CHECK(single.lost() == 0);
  CHECK(single.expected() == 1);
}

TEST_CASE("media rtp quality: per-source jitter of a bundle, the summary takes the worst") {
  ClockRates rates;
  rates.set(96, 90000);
  SourceQualities q;
  // Video every other packet 10 ms late: |D| = 10 ms = 900 units each packet after the first.
  feed_bundle(q, rates, 1, 400, 0, 10);
  const RtpQuality* a = q.find(kAudio);
  const RtpQuality* v = q.find(kVideo);
  REQUIRE(a);
  REQUIRE(v);
  CHECK(a->jitter_ms() == 0.0);
  // J converges to 900 units (J += (|D| - J)/16): 10 ms at 90 kHz.
  CHECK(v->jitter_ms() == Approx(10.0).margin(0.01));
  CHECK(q.worst_jitter_ms() == Approx(10.0).margin(0.01));
  // The video source's jitter does not degrade the audio MOS: the summary is audio's.
  CHECK(*q.worst_mos() == Approx(*a->mos()));
  CHECK(*q.worst_mos() == Approx(e_model_mos(0.0, 20.0)).margin(0.001));
  // Without the SDP's rate PT 96 would be taken for 48 kHz and its jitter misread.
  SourceQualities assumed;
  feed_bundle(assumed, ClockRates{}, 1, 400, 0, 10);
  CHECK(assumed.find(kVideo)->jitter_ms() != Approx(10.0).margin(0.5));
}

TEST_CASE("media rtp quality: a new SSRC after the old one stopped starts clean") {
  SourceQualities q;
  ClockRates rates;
  // Four sources come and go (failover); the fifth replaces the one idle longest.
  for (uint32_t k = 0; k < 4; ++k) {
    for (int i = 0; i < 10; ++i) {
      if (k == 0 && i == 5) continue;  // the first source lost one packet
      auto p = rtp(uint16_t(1000 * k + i), uint32_t(i * 160), 0x1000 + k);
      q.on_packet(p.data(), p.size(), int64_t(k * 10 + i) * 20 * kMs, rates);
    }
  }
  REQUIRE(q.count() == 4);
  CHECK(q.lost() == 1);
  for (int i = 0; i < 50; ++i) {
    auto p = rtp(uint16_t(60000 + i), uint32_t(777 + i * 160), 0x2000);
    q.on_packet(p.data(), p.size(), int64_t(40 + i) * 20 * kMs, rates);
  }
  CHECK(q.count() == 4);
  CHECK(q.replaced() == 1);
  CHECK_FALSE(q.find(0x1000));  // idle longest: aged out
  const RtpQuality* fresh = q.find(0x2000);
  REQUIRE(fresh);
  CHECK(fresh->rtp_packets() == 50);
  CHECK(fresh->lost() == 0);
  CHECK(fresh->jitter_ms() == 0.0);
  CHECK(q.lost() == 1);  // the replaced source's loss stays in the direction's total
  // The stopped sources no longer send; the live one goes on being tracked in place.
  auto p = rtp(uint16_t(60050), uint32_t(777 + 50 * 160), 0x2000);
  q.on_packet(p.data(), p.size(), 90 * 20 * kMs, rates);
  CHECK(q.find(0x2000)->rtp_packets() == 51);
  CHECK(q.find(0x1001));
}

TEST_CASE("media rtp quality: RTCP for two SSRCs lands on each source") {
  ClockRates rates;
  rates.set(96, 90000);
  SourceQualities a_to_b, b_to_a;
  feed_bundle(a_to_b, rates, 1, 100, 1000 * kMs);
  // One compound from B: an RR with a block on each of A's sources.
  std::vector<uint8_t> rr;
  header(rr, 201, 2, 8 + 2 * 24);
  put32(rr, 0x55667788);
  block(rr, kAudio, 26, 7, 400, 0, 0);     // 400 units at 8 kHz: 50 ms
  block(rr, kVideo, 0, 1, 9000, 0, 0);     // 9000 units at 90 kHz: 100 ms
  REQUIRE(apply_rtcp(rr.data(), rr.size(), 3000 * kMs, b_to_a, a_to_b));
  const RtpQuality* a = a_to_b.find(kAudio);
  const RtpQuality* v = a_to_b.find(kVideo);
  REQUIRE(a->remote());
  REQUIRE(v->remote());
  CHECK(a->remote()->cumulative_lost == 7);
  CHECK(a->remote()->jitter_ms == Approx(50.0));
  CHECK(v->remote()->cumulative_lost == 1);
  CHECK(v->remote()->jitter_ms == Approx(100.0));
  CHECK(a_to_b.primary() == a);

  // Sender reports of both A sources in one compound: each source matches its own LSR.
  std::vector<uint8_t> srs;
  for (uint32_t ssrc : {kAudio, kVideo}) {
    header(srs, 200, 0, 28);
    put32(srs, ssrc), put32(srs, 0x1000 + ssrc), put32(srs, 0x20000000), put32(srs, 160), put32(srs, 50),
        put32(srs, 8000);
  }
  RtcpCompound c;
  REQUIRE(parse_rtcp(srs.data(), srs.size(), c));
  REQUIRE(c.sender_report_count == 2);
  REQUIRE(apply_rtcp(srs.data(), srs.size(), 4000 * kMs, a_to_b, b_to_a));
  const uint32_t lsr_a = uint32_t((0x1000 + kAudio) << 16 | 0x2000);
  const uint32_t lsr_v = uint32_t((0x1000 + kVideo) << 16 | 0x2000);
  std::vector<uint8_t> rr2;
  header(rr2, 201, 2, 8 + 2 * 24);
  put32(rr2, 0x55667788);
  block(rr2, kAudio, 0, 7, 400, lsr_a, 0);     // 40 ms round trip
  block(rr2, kVideo, 0, 1, 9000, lsr_a, 0);    // A's LSR: not the video source's SR
  REQUIRE(apply_rtcp(rr2.data(), rr2.size(), 4040 * kMs, b_to_a, a_to_b));
  REQUIRE(a->remote()->rtt_ms);
  CHECK(*a->remote()->rtt_ms == Approx(40.0).margin(0.01));
  CHECK_FALSE(v->remote()->rtt_ms);
  std::vector<uint8_t> rr3;
  header(rr3, 201, 1, 8 + 24);
  put32(rr3, 0x55667788);
  block(rr3, kVideo, 0, 1, 9000, lsr_v, 0);
  REQUIRE(apply_rtcp(rr3.data(), rr3.size(), 4070 * kMs, b_to_a, a_to_b));
  REQUIRE(v->remote()->rtt_ms);
  CHECK(*v->remote()->rtt_ms == Approx(70.0).margin(0.01));
}
