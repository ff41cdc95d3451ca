#pragma once
// Quality of one direction of one stream, from the RTP headers outpost relays anyway:
// loss from sequence numbers (RFC 3550 A.1: wrap, reorder, duplicates, restarts), interarrival
// jitter (RFC 3550 A.8) and an E-model MOS estimate (ITU-T G.107, simplified). SRTP leaves
// the RTP header in clear, so this works on encrypted media too. Pure: the relay passes the
// bytes and the arrival time.
//
// RTCP adds what outpost cannot see itself: the far receiver's report (RFC 3550 6.4) on the
// stream, i.e. loss and jitter end to end, including the network beyond outpost, and the round
// trip between outpost and that receiver (its LSR/DLSR against the sender report outpost saw
// pass). SRTCP (RFC 3711) encrypts the report blocks: such compounds fail the RFC 3550 A.2
// validity check and are only counted as unreadable.
//
// One direction may carry several RTP sources (WebRTC BUNDLE: audio and video SSRCs on one
// 5-tuple, interleaved): `SourceQualities` keeps one `RtpQuality` per SSRC, and RTCP goes to
// the source it names.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace outpost::media {

// What a datagram on a media port is, from its first bytes (RFC 7983 demultiplexing; RTCP
// vs RTP as RFC 5761 4: second byte & 0x7f in 64-95 is RTCP, which covers SR/RR/SDES/BYE/APP
// 200-204 and the feedback types 205/206 WebRTC sends).
enum class PacketKind { rtp, rtcp, stun, dtls, other };
PacketKind classify_packet(const uint8_t* data, size_t size);

// RTP clock rate assumed for a payload type when the SDP is not read here: 8000 Hz for the
// static audio types (0 PCMU, 8 PCMA, 9 G722 whose RTP clock is 8000, 18 G729, ...), 90000
// for static video, and 48000 for dynamic types (>= 96: Opus, the usual WebRTC audio codec).
unsigned assumed_clock_rate(unsigned payload_type);

// Payload type -> RTP clock rate as the SDP's a=rtpmap lines said (one stream, both sides'
// SDP merged), falling back to assumed_clock_rate for types the SDP did not map. A flat table:
// looked up once per new source, never per packet.
class ClockRates {
 public:
  // Ignored for a payload type above 127 or a rate of 0.
  void set(unsigned payload_type, uint32_t hz);
  unsigned rate(unsigned payload_type) const;

 private:
  std::array<uint32_t, 128> hz_{};  // 0: not mapped
};

// ITU-T G.107 E-model, simplified: R = 93.2 - Id(delay) - Ie_eff(loss), codec G.711 with
// packet-loss concealment (Ie 0, Bpl 25.1, random loss), MOS from R (G.107 B-4).
double e_model_mos(double loss_percent, double one_way_delay_ms);

// One reception report block (RFC 3550 6.4.1).
struct ReportBlock {
  uint32_t ssrc = 0;           // the stream reported on
  uint8_t fraction_lost = 0;   // since the previous report, in 1/256
  int32_t cumulative_lost = 0; // 24-bit signed
  uint32_t highest_seq = 0;    // extended
  uint32_t jitter = 0;         // timestamp units
  uint32_t lsr = 0;            // middle 32 bits of the last SR's NTP time, 0 = none
  uint32_t dlsr = 0;           // 1/65536 s since that SR
};

// One sender report (RFC 3550 6.4.1): whose, and the middle of its NTP time (what LSR echoes).
struct SenderReportInfo {
  uint32_t ssrc = 0;
  uint32_t ntp_middle = 0;
};

// What one RTCP compound says: its sender reports (up to kMaxSenderReports: a BUNDLE sender
// may put one per SSRC in a compound) and up to kMaxBlocks report blocks (further ones are
// ignored).
struct RtcpCompound {
  static constexpr unsigned kMaxBlocks = 8;
  static constexpr unsigned kMaxSenderReports = 4;
  unsigned sender_report_count = 0;
  SenderReportInfo sender_reports[kMaxSenderReports];
  unsigned block_count = 0;
  ReportBlock blocks[kMaxBlocks];
};

// Parses a plain RTCP compound (RFC 3550 A.2 check: version 2, first packet SR or RR without
// padding, lengths adding up to the datagram exactly). false: not readable (SRTCP, garbage).
bool parse_rtcp(const uint8_t* data, size_t size, RtcpCompound& out);

class SourceQualities;
// An RTCP compound relayed in one direction: each sender report belongs to the source of that
// SSRC going the same way (`same_way`); each report block describes the source it names coming
// the other way (`other_way`), whose far receiver wrote it. Reports on SSRCs outpost has not
// seen relayed are ignored. false: unreadable (counted by the caller).
bool apply_rtcp(const uint8_t* data, size_t size, int64_t arrival_ns, SourceQualities& same_way,
                SourceQualities& other_way);

// The far receiver's view of a stream, from its latest report block.
struct RemoteReport {
  double fraction_lost_pct = 0;  // last interval
  int64_t cumulative_lost = 0;
  double jitter_ms = 0;
  std::optional<double> rtt_ms;  // outpost <-> that receiver, when an LSR matched
};

class RtpQuality {
 public:
  // One relayed datagram; anything that is not RTP v2 is ignored. A packet of another SSRC
  // restarts the figures (SourceQualities gives each SSRC its own). `rates`: the SDP's clock
  // rates, read when a source starts (null: assumed from the payload type).
  void on_packet(const uint8_t* data, size_t size, int64_t arrival_ns, const ClockRates* rates = nullptr);
  // The same for a datagram already classified as RTP (classify_packet: version 2, 12 bytes
  // at least), so the relay's per-packet path classifies once.
  void on_rtp(const uint8_t* data, size_t size, int64_t arrival_ns, const ClockRates* rates);

  uint64_t rtp_packets() const { return rtp_packets_; }
  uint64_t expected() const;
  uint64_t lost() const;  // expected - received, never negative (duplicates)
  double jitter_ms() const { return clock_rate_ ? jitter_ / clock_rate_ * 1000.0 : 0.0; }
  // The delay the E-model is given: unknown network delay, so the listener-side cost of a
  // jitter buffer sized at twice the jitter plus one 20 ms packet.
  double delay_estimate_ms() const { return 20.0 + 2.0 * jitter_ms(); }
  // nullopt until RTP was seen. Uses the far receiver's loss when it reports more than
  // outpost saw, and half its round trip as network delay.
  std::optional<double> mos() const;

  bool started() const { return started_; }
  uint32_t ssrc() const { return ssrc_; }
  unsigned clock_rate() const { return clock_rate_; }
  // Video (90 kHz clock): not what the E-model's MOS describes.
  bool video() const { return clock_rate_ == 90000; }
  int64_t last_arrival_ns() const { return last_arrival_ns_; }
  // A sender report of this stream passed outpost at `passed_ns`.
  void on_sender_report(uint32_t ntp_middle, int64_t passed_ns);
  // The far receiver reported on this stream (block.ssrc is this stream's).
  void on_report_block(const ReportBlock& block, int64_t arrival_ns);
  const std::optional<RemoteReport>& remote() const { return remote_; }

 private:
  void restart(uint16_t seq);
  double local_loss_percent() const;

  // The last few sender reports seen, to match a report block's LSR (reports cross in flight).
  struct SenderReportSeen {
    uint32_t ntp_middle = 0;
    int64_t passed_ns = 0;
  };
  static constexpr unsigned kSenderReportsKept = 4;
  SenderReportSeen sender_reports_[kSenderReportsKept];
  unsigned next_sender_report_ = 0;
  std::optional<RemoteReport> remote_;

  bool started_ = false;
  uint32_t ssrc_ = 0;
  unsigned clock_rate_ = 0;
  uint16_t max_seq_ = 0;
  uint32_t cycles_ = 0;  // sequence wraps, times 65536
  uint32_t base_seq_ = 0;
  uint32_t bad_seq_ = 0;
  uint64_t received_ = 0;  // of the current source, for loss
  uint64_t rtp_packets_ = 0;
  int64_t first_arrival_ns_ = 0;
  int64_t last_arrival_ns_ = 0;
  int64_t last_transit_ = 0;
  bool have_transit_ = false;
  double jitter_ = 0;  // in timestamp units, as RFC 3550 keeps it
};

// The RTP sources of one direction of one stream, one RtpQuality per SSRC. A new SSRC takes a
// free slot, else the one idle longest: a source that stopped (re-INVITE, failover) ages out
// instead of corrupting the new one. Fixed slots, no allocation: the per-packet cost is a scan
// of at most kMaxSources SSRCs.
class SourceQualities {
 public:
  static constexpr unsigned kMaxSources = 4;

  void on_packet(const uint8_t* data, size_t size, int64_t arrival_ns, const ClockRates& rates);
  // A datagram already classified as RTP (see RtpQuality::on_rtp).
  void on_rtp(const uint8_t* data, size_t size, int64_t arrival_ns, const ClockRates& rates);
  RtpQuality* find(uint32_t ssrc);
  const RtpQuality* find(uint32_t ssrc) const;

  unsigned count() const { return used_; }
  const RtpQuality* begin() const { return sources_.data(); }
  const RtpQuality* end() const { return sources_.data() + used_; }

  // The direction's summary: loss summed (sources replaced included), the worst jitter, the
  // worst MOS of the audio sources (nullopt: none seen; video has no MOS here).
  uint64_t lost() const;
  double worst_jitter_ms() const;
  std::optional<double> worst_mos() const;
  // The source the summary's far-end report comes from: the worst audio source if the far end
  // reported on it, else the first one it reported on, else the worst audio, else the first
  // seen; null before any RTP.
  const RtpQuality* primary() const;
  uint64_t replaced() const { return replaced_; }

 private:
  // The audio source (clock not 90000) with the lowest MOS; null when none has one.
  const RtpQuality* worst_audio() const;

  std::array<RtpQuality, kMaxSources> sources_{};
  unsigned used_ = 0;
  uint64_t replaced_ = 0;
  uint64_t retired_lost_ = 0;  // of sources replaced
};

}  // namespace outpost::media
