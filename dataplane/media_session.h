#pragma once
// One relayed stream (one m= line of one call): two legs, LAN and uplink, each an RTP and an
// RTCP socket. What arrives on a leg's socket goes out of the other leg's socket of the same
// kind, bytes untouched, to that side's latched (else signalled) peer.
//
// Two engines move the bytes; both share decide() (latch, destination, quality) and the
// counting, so what is relayed and counted does not depend on the engine.
// - io_uring (MediaRing, media_uring.h), the default where the kernel allows it: every socket
//   has a multishot receive armed; the turn's completions are decided one by one and their
//   sends queued (out of a socket connected to the destination: StreamSockets::connected_fd),
//   then submitted with one system call for all sockets.
// - epoll (FdPoller, level-triggered), chosen or the fallback: per readable socket, drain with
//   recvmmsg (up to kBatch datagrams) into the shared batch buffers, decide each, send the
//   batch with one sendmmsg.
// No heap allocation on the way in either.
#include <array>
#include <cmath>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <sys/socket.h>
#include <vector>

#include "common/log.h"
#include "common/net.h"
#include "common/result.h"
#include "dataplane/media.h"
#include "dataplane/media_latching.h"
#include "dataplane/fd_poller.h"
#include "dataplane/media_poller.h"
#include "dataplane/media_rtp_quality.h"
#include "dataplane/media_stats.h"
#include "dataplane/media_uring.h"

namespace outpost::media {

inline constexpr unsigned kBatch = 32;
inline constexpr size_t kMaxDatagram = 2048;  // media datagrams are < MTU; bigger ones are dropped (truncated)

// Scratch space for one recvmmsg/sendmmsg round. One per relay: the relay runs on one
// thread, and a batch is finished before the next socket is read.
struct PacketBatch {
  std::array<mmsghdr, kBatch> rx{};
  std::array<iovec, kBatch> rx_iov{};
  std::array<sockaddr_storage, kBatch> source{};
  std::array<mmsghdr, kBatch> tx{};
  std::array<iovec, kBatch> tx_iov{};
  std::array<std::array<uint8_t, kMaxDatagram>, kBatch> data{};
};

// What every session of one relay shares: settings that reload may change, counters, the
// batch buffers. Owned by the relay, kept alive by its sessions.
struct RelayContext {
  // engine: io_uring is tried and falls back to epoll (logged once, counted).
  // coalesce: the io_uring engine's batching wait (media_uring.h).
  RelayContext(boost::asio::io_context& io, MetricsRegistry& metrics, Logger logger, MediaEngine engine,
               std::chrono::microseconds coalesce);
  const char* engine_name() const { return ring ? "io_uring" : "epoll"; }
  // The io_uring engine's batching wait in force (0: none, or the epoll engine).
  long coalesce_us() const { return ring ? long(ring->coalesce().count()) : 0; }
  dataplane::FdPoller poller;  // the epoll engine's sockets, EPOLLIN level-triggered
  std::unique_ptr<MediaRing> ring;  // null: the epoll engine
  MediaStats stats;
  MediaDrops drops;
  Logger log;
  RateLimitedLog bad_input;
  unsigned latch_packets = 3;
  std::vector<Prefix> lan_sources;     // lan.client_subnets (default: the LAN prefix)
  std::vector<Prefix> uplink_sources;  // vendor.prefixes
  PacketBatch batch;
};

// Packets, bytes and quality of one direction of one stream: quality per RTP source (SSRC),
// since a BUNDLE direction carries several. to_json gives the summary (lost summed, worst
// jitter, worst audio MOS) and each source.
struct DirectionFigures {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  SourceQualities sources;
  nlohmann::json to_json() const;
};

class MediaSession;

// The four sockets of one stream (LAN RTP, LAN RTCP, uplink RTP, uplink RTCP), bound and
// registered with the engine once for their whole life. Opening and closing them per call
// (socket, bind, epoll_ctl add and del, close: 20 system calls per stream) was ~10 % of a
// relayed call's CPU in bench/sip.sh, so a finished stream's sockets are parked (media_relay.cc,
// media_parking.h) and a later stream re-uses them. Whatever arrives while no session uses
// them is read and dropped (counted: stream_closed). Heap-allocated and never moved: the
// engine holds pointers to its legs.
class StreamSockets {
 public:
  StreamSockets(std::shared_ptr<RelayContext> relay, StreamPorts ports);
  StreamSockets(const StreamSockets&) = delete;
  StreamSockets& operator=(const StreamSockets&) = delete;
  ~StreamSockets();  // takes the sockets off the engine and closes them

  // Binds the four sockets and registers them with the engine; an error names the port.
  Result<void> open();
  const StreamPorts& ports() const { return ports_; }
  int fd(unsigned slot) const { return legs_[slot].socket.fd(); }
  uint32_t ring_token(unsigned slot) const { return legs_[slot].ring_token; }
  // The session relaying on these sockets from now on; null: parked.
  void attach(MediaSession* session);
  // io_uring engine: `slot`'s socket connected to `to`, re-connected when `to` changes; -1
  // (send from fd(slot) with an address) on the epoll engine, or where it could not be had
  // (for `to`: tried again after kConnectRetryNs).
  int connected_fd(unsigned slot, const UdpEndpoint& to, int64_t now_ns);
  static constexpr int64_t kConnectRetryNs = 1'000'000'000;

 private:
  struct Leg final : dataplane::PolledFd, DatagramSink {
    void on_events(uint32_t) override;
    void on_datagram(MediaRing& ring, const RingDatagram& d) override;
    void on_sent(int result, size_t size) override;
    StreamSockets* owner = nullptr;
    MediaSession* session = nullptr;
    unsigned slot = 0;
    UdpSocket socket;
    uint32_t ring_token = 0;
    bool on_ring = false;
    bool on_poller = false;
    // Sending through `socket` names the destination in every datagram, and the kernel looks
    // its route up each time (route and message header: ~7 % of the relay's CPU per packet in
    // `perf`). `connected` is bound to the same address and port (SO_REUSEPORT while the two
    // are bound, then cleared) and connected to where this leg sends: the kernel keeps the
    // route, and delivers that peer's datagrams to `connected` (the most specific match),
    // anyone else's still to `socket`; both go to this leg. Opened with the stream's sockets,
    // kept while parked (re-connected by the next session that needs it).
    UdpSocket connected;
    uint32_t connected_token = 0;
    bool connected_on_ring = false;
    std::optional<UdpEndpoint> connected_to;    // where `connected` sends
    std::optional<UdpEndpoint> connect_failed;  // refused lately: sent addressed until
    int64_t connect_failed_ns = 0;              // this + kConnectRetryNs
  };
  Result<void> open_connected(Leg& leg);
  const Endpoint& local(unsigned slot) const;
  void close();
  void drain_parked(unsigned slot);  // epoll engine, no session: read and drop

  std::shared_ptr<RelayContext> relay_;
  StreamPorts ports_;
  std::array<Leg, 4> legs_;
};

class MediaSession {
 public:
  // Relays on `sockets` (open) until take_sockets() or destruction.
  MediaSession(std::shared_ptr<RelayContext> relay, std::string call_id, unsigned index,
               std::unique_ptr<StreamSockets> sockets);
  MediaSession(const MediaSession&) = delete;
  MediaSession& operator=(const MediaSession&) = delete;
  ~MediaSession();

  // Stops relaying and hands the sockets back, still open (null after the first call).
  std::unique_ptr<StreamSockets> take_sockets();

  // The peer one side announced in its SDP (offer, answer, re-INVITE; nullopt = on hold).
  void set_peer(LegSide side, const std::optional<Endpoint>& rtp, const std::optional<Endpoint>& rtcp,
                bool rtcp_mux);
  // Payload type clock rates a side's SDP mapped (a=rtpmap), merged over both sides and every
  // offer; used for sources that start afterwards.
  void add_clock_rates(const std::vector<StreamOffer::ClockRate>& rates);

  const StreamPorts& ports() const { return ports_; }
  const std::string& call_id() const { return call_id_; }
  unsigned index() const { return index_; }
  int64_t last_activity_ns() const { return last_activity_ns_; }
  const DirectionFigures& to_vendor() const { return figures_[0]; }
  const DirectionFigures& to_lan() const { return figures_[1]; }
  const Latch& latch(LegSide side, bool rtcp) const { return latches_[slot(side, rtcp)]; }
  nlohmann::json to_json() const;

 private:
  friend class StreamSockets;
  // Socket slots: LAN RTP, LAN RTCP, uplink RTP, uplink RTCP. A slot's twin on the other
  // leg is slot ^ 2.
  static unsigned slot(LegSide side, bool rtcp) { return (side == LegSide::uplink ? 2u : 0u) + (rtcp ? 1u : 0u); }
  // What decide() saw, counted once per batch (epoll) or datagram (io_uring).
  struct Tally {
    uint64_t received = 0, not_allowed = 0, no_peer = 0, truncated = 0, latched = 0, relatched = 0;
    uint64_t rtcp_read = 0, rtcp_unreadable = 0;
  };
  // May this datagram from `source` arriving on `slot` go on, and where: the destination, or
  // null (dropped, tallied). Measures quality of what goes on.
  const UdpEndpoint* decide(unsigned slot, const sockaddr* source, socklen_t source_length, const uint8_t* data,
                            size_t size, bool truncated, int64_t now_ns, Tally& tally);
  void count_decisions(unsigned slot, const Tally& tally, int64_t now_ns);
  void count_sent(unsigned slot, uint64_t sent, uint64_t bytes, uint64_t failed);
  void count_sent(unsigned slot, int result, size_t size);  // one io_uring send completion

  // epoll engine
  void drain(unsigned slot);
  // Receives one batch on `slot` and sends what may go on; the number received.
  unsigned relay_batch(unsigned slot, int64_t now_ns);
  // io_uring engine
  void relay_one(MediaRing& ring, unsigned slot, const RingDatagram& datagram);
  nlohmann::json leg_json(LegSide side) const;

  std::shared_ptr<RelayContext> relay_;
  std::string call_id_;
  unsigned index_;
  StreamPorts ports_;
  std::unique_ptr<StreamSockets> sockets_;
  std::array<Latch, 4> latches_;
  std::array<DirectionFigures, 2> figures_;  // [0] LAN -> vendor, [1] vendor -> LAN
  ClockRates clock_rates_;
  int64_t last_activity_ns_;
};

// Reads up to kBatch datagrams from fd into the batch's receive side; the number read (<= 0:
// none).
int receive_batch(int fd, PacketBatch& batch);

// Quality figures as `show calls` and the call records give them: two decimals.
inline double round2(double v) { return std::round(v * 100.0) / 100.0; }

}  // namespace outpost::media
