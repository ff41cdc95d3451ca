#include "dataplane/media_rtp_quality.h"

#include <algorithm>
#include <cmath>

namespace outpost::media {
namespace {

constexpr uint32_t kSeqMod = 1u << 16;
constexpr uint16_t kMaxDropout = 3000;  // RFC 3550 A.1
constexpr uint16_t kMaxMisorder = 100;

uint32_t read32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

}  // namespace

PacketKind classify_packet(const uint8_t* data, size_t size) {
  if (size == 0) return PacketKind::other;
  const uint8_t b = data[0];
  if (b <= 3) return PacketKind::stun;
  if (b >= 20 && b <= 63) return PacketKind::dtls;
  if (b >= 128 && b <= 191) {
    if (size < 12) return PacketKind::other;
    const unsigned pt = data[1] & 0x7f;
    return (pt >= 64 && pt <= 95) ? PacketKind::rtcp : PacketKind::rtp;
  }
  return PacketKind::other;  // ZRTP 16-19, TURN channels 64-79, garbage
}

unsigned assumed_clock_rate(unsigned pt) {
  if (pt >= 96) return 48000;
  if (pt == 14 || (pt >= 25 && pt <= 34)) return 90000;  // MPA and the static video types
  if (pt == 10 || pt == 11) return 44100;                // L16
  return 8000;
}

double e_model_mos(double loss_percent, double delay_ms) {
  const double d = std::max(0.0, delay_ms);
  const double id = 0.024 * d + (d > 177.3 ? 0.11 * (d - 177.3) : 0.0);
  const double ppl = std::clamp(loss_percent, 0.0, 100.0);
  constexpr double kIe = 0.0, kBpl = 25.1;  // G.711 with PLC (G.113 Appendix I)
  const double ie_eff = kIe + (95.0 - kIe) * ppl / (ppl + kBpl);
  const double r = 93.2 - id - ie_eff;
  if (r <= 0) return 1.0;
  if (r >= 100) return 4.5;
  return 1.0 + 0.035 * r + 7e-6 * r * (r - 60.0) * (100.0 - r);
}

void RtpQuality::restart(uint16_t seq) {
  base_seq_ = seq;
  max_seq_ = seq;
  cycles_ = 0;
  bad_seq_ = kSeqMod + 1;
  received_ = 0;
  have_transit_ = false;
  jitter_ = 0;
}

void RtpQuality::on_packet(const uint8_t* data, size_t size, int64_t arrival_ns) {
  if (classify_packet(data, size) != PacketKind::rtp || (data[0] >> 6) != 2) return;
  const uint16_t seq = uint16_t(data[2] << 8 | data[3]);
  const uint32_t ts = read32(data + 4);
  const uint32_t ssrc = read32(data + 8);
  ++rtp_packets_;
  if (!started_ || ssrc != ssrc_) {  // first packet, or the source changed (re-INVITE, failover)
    started_ = true;
    ssrc_ = ssrc;
    clock_rate_ = assumed_clock_rate(data[1] & 0x7f);
    first_arrival_ns_ = arrival_ns;
    restart(seq);
  } else {
    const uint16_t udelta = uint16_t(seq - max_seq_);
    if (udelta < kMaxDropout) {
      if (seq < max_seq_) cycles_ += kSeqMod;  // wrapped
      max_seq_ = seq;
    } else if (udelta <= kSeqMod - kMaxMisorder) {
      // A big jump: believe it only if the next packet follows it (the sender restarted).
      if (seq != bad_seq_) {
        bad_seq_ = (uint32_t(seq) + 1) & (kSeqMod - 1);
        return;
      }
      restart(seq);
    }
    // else: late or duplicate, counted as received
  }
  ++received_;

  // Interarrival jitter (A.8), in RTP timestamp units.
  const int64_t arrival = (arrival_ns - first_arrival_ns_) * int64_t(clock_rate_) / 1'000'000'000;
  const int64_t transit = arrival - int64_t(ts);
  if (have_transit_) {
    int64_t d = transit - last_transit_;
    // Timestamps wrap at 2^32: fold the difference back into range.
    d = int64_t(int32_t(uint32_t(d)));
    jitter_ += (double(std::llabs(d)) - jitter_) / 16.0;
  }
  last_transit_ = transit;
  have_transit_ = true;
}

uint64_t RtpQuality::expected() const {
  if (!started_) return 0;
  return uint64_t(cycles_) + max_seq_ - base_seq_ + 1;
}

uint64_t RtpQuality::lost() const {
  const uint64_t e = expected();
  return e > received_ ? e - received_ : 0;
}

std::optional<double> RtpQuality::mos() const {
  if (!started_) return std::nullopt;
  const uint64_t e = expected();
  const double loss_pct = e ? 100.0 * double(lost()) / double(e) : 0.0;
  return e_model_mos(loss_pct, delay_estimate_ms());
}

}  // namespace outpost::media
