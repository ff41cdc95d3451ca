#include "dataplane/media_rtp_quality.h"

#include <algorithm>
#include <cmath>

namespace outpost::media {
namespace {

constexpr uint32_t kSeqMod = 1u << 16;
constexpr uint16_t kMaxDropout = 3000;  // RFC 3550 A.1
constexpr uint16_t kMaxMisorder = 100;

uint32_t read32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

constexpr uint8_t kSenderReport = 200, kReceiverReport = 201;
constexpr size_t kBlockSize = 24;

void read_blocks(const uint8_t* p, size_t available, unsigned count, RtcpCompound& out) {
  for (unsigned i = 0; i < count && (i + 1) * kBlockSize <= available; ++i) {
    if (out.block_count == RtcpCompound::kMaxBlocks) return;
    const uint8_t* b = p + i * kBlockSize;
    ReportBlock& r = out.blocks[out.block_count++];
    r.ssrc = read32(b);
    r.fraction_lost = b[4];
    // 24-bit two's complement: shift it to the top of an int32 and back.
    r.cumulative_lost = int32_t(uint32_t(b[5]) << 24 | uint32_t(b[6]) << 16 | uint32_t(b[7]) << 8) >> 8;
    r.highest_seq = read32(b + 8);
    r.jitter = read32(b + 12);
    r.lsr = read32(b + 16);
    r.dlsr = read32(b + 20);
  }
}

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

bool parse_rtcp(const uint8_t* data, size_t size, RtcpCompound& out) {
  out = RtcpCompound{};
  if (size < 8 || (data[0] >> 6) != 2 || (data[0] & 0x20) || (data[1] != kSenderReport && data[1] != kReceiverReport))
    return false;
  // A.2: the lengths must add up to the datagram exactly. SRTCP's trailer (E flag, index, tag)
  // makes them fall short, and its encrypted body reads as nonsense lengths: both fail here.
  for (size_t at = 0; at < size;) {
    if (size - at < 4 || (data[at] >> 6) != 2) return false;
    const size_t length = (size_t(data[at + 2]) << 8 | data[at + 3]) * 4 + 4;
    if (length > size - at) return false;
    at += length;
  }
  for (size_t at = 0; at < size;) {
    const uint8_t* p = data + at;
    const size_t length = (size_t(p[2]) << 8 | p[3]) * 4 + 4;
    const unsigned count = p[0] & 0x1f;
    if (p[1] == kSenderReport && length >= 28) {
      if (out.sender_report_count < RtcpCompound::kMaxSenderReports)
        out.sender_reports[out.sender_report_count++] = {read32(p + 4),
                                                         uint32_t(read32(p + 8) << 16 | read32(p + 12) >> 16)};
      read_blocks(p + 28, length - 28, count, out);
    } else if (p[1] == kReceiverReport && length >= 8) {
      read_blocks(p + 8, length - 8, count, out);
    }
    at += length;
  }
  return true;
}

bool apply_rtcp(const uint8_t* data, size_t size, int64_t arrival_ns, SourceQualities& same_way,
                SourceQualities& other_way) {
  RtcpCompound compound;
  if (!parse_rtcp(data, size, compound)) return false;
  for (unsigned i = 0; i < compound.sender_report_count; ++i) {
    const SenderReportInfo& sr = compound.sender_reports[i];
    if (RtpQuality* source = same_way.find(sr.ssrc)) source->on_sender_report(sr.ntp_middle, arrival_ns);
  }
  for (unsigned i = 0; i < compound.block_count; ++i) {
    // Only blocks about a source outpost relays the other way: a conference mixer may report
    // on sources outpost never saw.
    if (RtpQuality* source = other_way.find(compound.blocks[i].ssrc))
      source->on_report_block(compound.blocks[i], arrival_ns);
  }
  return true;
}

void ClockRates::set(unsigned payload_type, uint32_t hz) {
  if (payload_type < hz_.size() && hz != 0) hz_[payload_type] = hz;
}

unsigned ClockRates::rate(unsigned payload_type) const {
  if (payload_type < hz_.size() && hz_[payload_type]) return hz_[payload_type];
  return assumed_clock_rate(payload_type);
}

void RtpQuality::on_sender_report(uint32_t ntp_middle, int64_t passed_ns) {
  sender_reports_[next_sender_report_] = {ntp_middle, passed_ns};
  next_sender_report_ = (next_sender_report_ + 1) % kSenderReportsKept;
}

void RtpQuality::on_report_block(const ReportBlock& block, int64_t arrival_ns) {
  RemoteReport r;
  r.fraction_lost_pct = block.fraction_lost * 100.0 / 256.0;
  r.cumulative_lost = block.cumulative_lost;
  r.jitter_ms = clock_rate_ ? double(block.jitter) / clock_rate_ * 1000.0 : 0.0;
  if (remote_) r.rtt_ms = remote_->rtt_ms;  // keep the last round trip until a new one is measured
  if (block.lsr != 0) {
    for (const auto& sr : sender_reports_) {
      if (sr.passed_ns == 0 || sr.ntp_middle != block.lsr) continue;
      // RFC 3550 6.4.1: RTT = arrival - LSR - DLSR, here with outpost's own clock for both
      // ends, so the two clocks need not agree; only the receiver's hold time is its own.
      const double rtt_ms = double(arrival_ns - sr.passed_ns) / 1e6 - double(block.dlsr) * 1000.0 / 65536.0;
      if (rtt_ms >= 0) r.rtt_ms = rtt_ms;
      break;
    }
  }
  remote_ = r;
}

void RtpQuality::restart(uint16_t seq) {
  base_seq_ = seq;
  max_seq_ = seq;
  cycles_ = 0;
  bad_seq_ = kSeqMod + 1;
  received_ = 0;
  have_transit_ = false;
  jitter_ = 0;
  remote_.reset();  // reports on the previous source no longer apply
}

void RtpQuality::on_packet(const uint8_t* data, size_t size, int64_t arrival_ns, const ClockRates* rates) {
  if (classify_packet(data, size) == PacketKind::rtp) on_rtp(data, size, arrival_ns, rates);
}

void RtpQuality::on_rtp(const uint8_t* data, size_t, int64_t arrival_ns, const ClockRates* rates) {
  const uint16_t seq = uint16_t(data[2] << 8 | data[3]);
  const uint32_t ts = read32(data + 4);
  const uint32_t ssrc = read32(data + 8);
  ++rtp_packets_;
  last_arrival_ns_ = arrival_ns;
  if (!started_ || ssrc != ssrc_) {  // first packet, or the source changed (re-INVITE, failover)
    started_ = true;
    ssrc_ = ssrc;
    clock_rate_ = rates ? rates->rate(data[1] & 0x7f) : assumed_clock_rate(data[1] & 0x7f);
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

double RtpQuality::local_loss_percent() const {
  const uint64_t e = expected();
  return e ? 100.0 * double(lost()) / double(e) : 0.0;
}

std::optional<double> RtpQuality::mos() const {
  if (!started_) return std::nullopt;
  double loss_pct = local_loss_percent();
  double delay_ms = delay_estimate_ms();
  if (remote_) {
    // The far receiver's cumulative loss covers the whole path, outpost's share included;
    // its count of expected packets is close to outpost's own.
    const uint64_t e = expected();
    if (e && remote_->cumulative_lost > 0)
      loss_pct = std::max(loss_pct, std::min(100.0, 100.0 * double(remote_->cumulative_lost) / double(e)));
    delay_ms = 20.0 + 2.0 * std::max(jitter_ms(), remote_->jitter_ms) + remote_->rtt_ms.value_or(0.0) / 2.0;
  }
  return e_model_mos(loss_pct, delay_ms);
}

void SourceQualities::on_packet(const uint8_t* data, size_t size, int64_t arrival_ns, const ClockRates& rates) {
  if (classify_packet(data, size) == PacketKind::rtp) on_rtp(data, size, arrival_ns, rates);
}

void SourceQualities::on_rtp(const uint8_t* data, size_t size, int64_t arrival_ns, const ClockRates& rates) {
  if (RtpQuality* known = find(read32(data + 8))) return known->on_rtp(data, size, arrival_ns, &rates);
  unsigned slot = used_;
  if (used_ < kMaxSources) {
    ++used_;
  } else {
    slot = 0;
    for (unsigned i = 1; i < kMaxSources; ++i)
      if (sources_[i].last_arrival_ns() < sources_[slot].last_arrival_ns()) slot = i;
    retired_lost_ += sources_[slot].lost();
    ++replaced_;
    sources_[slot] = RtpQuality{};
  }
  sources_[slot].on_rtp(data, size, arrival_ns, &rates);
}

RtpQuality* SourceQualities::find(uint32_t ssrc) {
  for (unsigned i = 0; i < used_; ++i)
    if (sources_[i].ssrc() == ssrc) return &sources_[i];
  return nullptr;
}

const RtpQuality* SourceQualities::find(uint32_t ssrc) const {
  for (const RtpQuality& q : *this)
    if (q.ssrc() == ssrc) return &q;
  return nullptr;
}

uint64_t SourceQualities::lost() const {
  uint64_t sum = retired_lost_;
  for (const RtpQuality& q : *this) sum += q.lost();
  return sum;
}

double SourceQualities::worst_jitter_ms() const {
  double worst = 0;
  for (const RtpQuality& q : *this) worst = std::max(worst, q.jitter_ms());
  return worst;
}

const RtpQuality* SourceQualities::worst_audio() const {
  const RtpQuality* worst = nullptr;
  double worst_mos = 0;
  for (const RtpQuality& q : *this) {
    if (q.video()) continue;
    if (auto m = q.mos(); m && (!worst || *m < worst_mos)) worst = &q, worst_mos = *m;
  }
  return worst;
}

std::optional<double> SourceQualities::worst_mos() const {
  const RtpQuality* worst = worst_audio();
  return worst ? worst->mos() : std::nullopt;
}

const RtpQuality* SourceQualities::primary() const {
  const RtpQuality* worst = worst_audio();
  if (worst && worst->remote()) return worst;
  for (const RtpQuality& q : *this)
    if (q.remote()) return &q;
  if (worst) return worst;
  return used_ ? &sources_[0] : nullptr;
}

}  // namespace outpost::media
