#pragma once
// Quality of one direction of one stream, from the RTP headers outpost relays anyway:
// loss from sequence numbers (RFC 3550 A.1: wrap, reorder, duplicates, restarts), interarrival
// jitter (RFC 3550 A.8) and an E-model MOS estimate (ITU-T G.107, simplified). SRTP leaves
// the RTP header in clear, so this works on encrypted media too. Pure: the relay passes the
// bytes and the arrival time.
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
  // nullopt until RTP was seen.
  std::optional<double> mos() const;

 private:
  void restart(uint16_t seq);

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
