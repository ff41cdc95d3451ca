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

// What one RTCP compound says: the sender report's NTP time, if it has one, and up to
// kMaxBlocks report blocks (further ones are ignored: a two-party call has one).
struct RtcpCompound {
  static constexpr unsigned kMaxBlocks = 8;
  bool has_sender_report = false;
  uint32_t sender_ssrc = 0;
  uint32_t sr_ntp_middle = 0;
  unsigned block_count = 0;
  ReportBlock blocks[kMaxBlocks];
};

// Parses a plain RTCP compound (RFC 3550 A.2 check: version 2, first packet SR or RR without
// padding, lengths adding up to the datagram exactly). false: not readable (SRTCP, garbage).
bool parse_rtcp(const uint8_t* data, size_t size, RtcpCompound& out);

class RtpQuality;
// An RTCP compound relayed in one direction: its sender report belongs to the stream going the
// same way (`same_way`); its report blocks describe the stream coming the other way (`other_way`),
// whose far receiver wrote them. false: unreadable (counted by the caller).
bool apply_rtcp(const uint8_t* data, size_t size, int64_t arrival_ns, RtpQuality& same_way, RtpQuality& other_way);

// The far receiver's view of a stream, from its latest report block.
struct RemoteReport {
  double fraction_lost_pct = 0;  // last interval
  int64_t cumulative_lost = 0;
  double jitter_ms = 0;
  std::optional<double> rtt_ms;  // outpost <-> that receiver, when an LSR matched
};

class RtpQuality {
 public:
  // One relayed datagram; anything that is not RTP v2 is ignored.
  void on_packet(const uint8_t* data, size_t size, int64_t arrival_ns);

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
  int64_t last_transit_ = 0;
  bool have_transit_ = false;
  double jitter_ = 0;  // in timestamp units, as RFC 3550 keeps it
};

}  // namespace outpost::media
