#include "dataplane/media_session.h"

#include <cerrno>
#include <cmath>
#include <chrono>
#include <cstring>

namespace outpost::media {
namespace {

namespace asio = boost::asio;
using udp = asio::ip::udp;

// Batches read from one socket per wakeup before the other sockets' turn: enough to empty a
// busy socket, bounded so one flooded port cannot starve the rest (the poller is
// level-triggered, so what is left is read on the next round).
constexpr unsigned kMaxRoundsPerWakeup = 4;

UdpEndpoint to_udp(const Endpoint& e) { return UdpEndpoint(e.address, e.port); }

std::string text(const std::optional<UdpEndpoint>& e) {
  if (!e) return "";
  return Endpoint{e->address(), e->port()}.to_string();
}

}  // namespace

namespace {
// What the far receiver last reported on a source (RTCP), null until it did.
nlohmann::json remote_json(const RtpQuality* quality) {
  if (!quality || !quality->remote()) return nullptr;
  const RemoteReport& r = *quality->remote();
  return {{"fraction_lost_pct", round2(r.fraction_lost_pct)},
          {"cumulative_lost", r.cumulative_lost},
          {"jitter_ms", round2(r.jitter_ms)},
          {"rtt_ms", r.rtt_ms ? nlohmann::json(round2(*r.rtt_ms)) : nlohmann::json(nullptr)}};
}

nlohmann::json mos_json(std::optional<double> mos) { return mos ? nlohmann::json(round2(*mos)) : nlohmann::json(nullptr); }
}  // namespace

nlohmann::json DirectionFigures::to_json() const {
  nlohmann::json each = nlohmann::json::array();
  for (const RtpQuality& q : sources)
    each.push_back({{"ssrc", q.ssrc()},
                    {"packets", q.rtp_packets()},
                    {"lost", q.lost()},
                    {"jitter_ms", round2(q.jitter_ms())},
                    {"clock_rate", q.clock_rate()},
                    {"mos", q.video() ? nlohmann::json(nullptr) : mos_json(q.mos())},
                    {"remote", remote_json(&q)}});
  return {{"packets", packets},
          {"bytes", bytes},
          {"lost", sources.lost()},
          {"jitter_ms", round2(sources.worst_jitter_ms())},
          {"mos", mos_json(sources.worst_mos())},
          {"remote", remote_json(sources.primary())},
          {"sources", std::move(each)}};
}

RelayContext::RelayContext(boost::asio::io_context& io, MetricsRegistry& metrics, Logger logger, MediaEngine engine,
                           std::chrono::microseconds coalesce)
    : poller(io), stats(MediaStats::make(metrics)), drops(metrics), log(logger), bad_input(logger) {
  if (engine == MediaEngine::epoll) return;
  auto made = MediaRing::create(io, coalesce);
  if (made) {
    ring = std::move(*made);
    return;
  }
  // Not allowed here (io_uring_disabled=2, a seccomp filter, a container): epoll, as well.
  stats.io_uring_fallbacks.inc();
  log.warn("io_uring unavailable (", made.error().message, "): relaying with epoll and recvmmsg/sendmmsg");
}

StreamSockets::StreamSockets(std::shared_ptr<RelayContext> relay, StreamPorts ports)
    : relay_(std::move(relay)), ports_(std::move(ports)) {
  for (unsigned i = 0; i < 4; ++i) legs_[i].owner = this, legs_[i].slot = i;
}

StreamSockets::~StreamSockets() { close(); }

const Endpoint& StreamSockets::local(unsigned slot) const {
  const Endpoint* each[4] = {&ports_.lan_rtp, &ports_.lan_rtcp, &ports_.uplink_rtp, &ports_.uplink_rtcp};
  return *each[slot];
}

Result<void> StreamSockets::open() {
  for (unsigned i = 0; i < 4; ++i) {
    Leg& leg = legs_[i];
    const udp::endpoint at = to_udp(local(i));
    // The io_uring engine's sockets share their port with a connected twin (below) while
    // both are bound.
    if (auto r = leg.socket.open(at.data(), socklen_t(at.size()), relay_->ring != nullptr); !r) {
      close();
      return make_error("media: cannot bind " + local(i).to_string() + ": " + r.error().message);
    }
    if (relay_->ring) {
      auto token = relay_->ring->add(leg.socket.fd(), leg);
      if (!token) {
        close();
        return token.error();
      }
      leg.ring_token = *token;
      leg.on_ring = true;
    } else if (auto r = relay_->poller.add(leg.socket.fd(), EPOLLIN, leg); !r) {
      close();
      return r;
    } else {
      leg.on_poller = true;
    }
  }
  if (!relay_->ring) return {};
  for (Leg& leg : legs_) {
    if (auto r = open_connected(leg); !r) {
      // Out of descriptors, say: this leg sends addressed out of `socket`.
      relay_->stats.connect_failed.inc();
      relay_->bad_input.warn("media: no connected socket on ", local(leg.slot).to_string(), ": ", r.error().message);
    }
    // From now on nobody else binds these ports, whichever user.
    leg.socket.stop_sharing();
    leg.connected.stop_sharing();
  }
  return {};
}

void StreamSockets::close() {
  for (Leg& leg : legs_) {
    if (leg.on_ring) relay_->ring->remove(leg.ring_token);
    if (leg.connected_on_ring) relay_->ring->remove(leg.connected_token);
    if (leg.on_poller) relay_->poller.remove(leg.socket.fd());
    leg.on_ring = leg.on_poller = leg.connected_on_ring = false;
    leg.session = nullptr;
    leg.socket.close();
    leg.connected.close();
    leg.connected_to.reset();
    leg.connect_failed.reset();
  }
}

Result<void> StreamSockets::open_connected(Leg& leg) {
  const udp::endpoint at = to_udp(local(leg.slot));
  if (auto r = leg.connected.open(at.data(), socklen_t(at.size()), true); !r) return r;
  auto token = relay_->ring->add(leg.connected.fd(), leg);
  if (!token) {
    leg.connected.close();
    return token.error();
  }
  leg.connected_token = *token;
  leg.connected_on_ring = true;
  return {};
}

int StreamSockets::connected_fd(unsigned slot, const UdpEndpoint& to, int64_t now_ns) {
  Leg& leg = legs_[slot];
  if (leg.connected_to == to) return leg.connected.fd();
  if (!leg.connected_on_ring) return -1;
  if (leg.connect_failed == to && now_ns - leg.connect_failed_ns < kConnectRetryNs) return -1;
  // Sends queued in this turn for the old destination leave before the socket turns to the
  // new one.
  relay_->ring->flush();
  if (auto r = leg.connected.connect(to.data(), socklen_t(to.size())); !r) {
    // No route to `to` (an uplink down): the datagrams go out of `socket`, addressed, and
    // connecting is tried again after kConnectRetryNs. The socket may still be connected to
    // the old peer, whose datagrams it then keeps receiving for this leg.
    leg.connected_to.reset();
    leg.connect_failed = to;
    leg.connect_failed_ns = now_ns;
    relay_->stats.connect_failed.inc();
    relay_->bad_input.warn("media: cannot connect ", local(slot).to_string(), " to ", text(to), ": ", r.error().message);
    return -1;
  }
  leg.connected_to = to;
  leg.connect_failed.reset();
  return leg.connected.fd();
}

void StreamSockets::attach(MediaSession* session) {
  for (Leg& leg : legs_) {
    leg.session = session;
    leg.connect_failed.reset();  // a new call, new peers
  }
}

void StreamSockets::Leg::on_events(uint32_t) {
  if (session) return session->drain(slot);
  owner->drain_parked(slot);
}

void StreamSockets::Leg::on_datagram(MediaRing& ring, const RingDatagram& d) {
  if (session) return session->relay_one(ring, slot, d);
  owner->relay_->drops.add(MediaDrop::stream_closed);
}

void StreamSockets::Leg::on_sent(int result, size_t size) {
  // A send queued before the stream was parked completes after: its session is gone, and so
  // are the figures it would go to.
  if (session) session->count_sent(slot, result, size);
}

void StreamSockets::drain_parked(unsigned i) {
  for (unsigned round = 0; round < kMaxRoundsPerWakeup; ++round) {
    const int received = receive_batch(legs_[i].socket.fd(), relay_->batch);
    if (received <= 0) return;
    relay_->drops.add(MediaDrop::stream_closed, uint64_t(received));
    if (unsigned(received) < kBatch) return;
  }
}

MediaSession::MediaSession(std::shared_ptr<RelayContext> relay, std::string call_id, unsigned index,
                           std::unique_ptr<StreamSockets> sockets)
    : relay_(std::move(relay)),
      call_id_(std::move(call_id)),
      index_(index),
      ports_(sockets->ports()),
      sockets_(std::move(sockets)),
      last_activity_ns_(steady_now_ns()) {
  sockets_->attach(this);
}

MediaSession::~MediaSession() { take_sockets(); }

std::unique_ptr<StreamSockets> MediaSession::take_sockets() {
  if (sockets_) sockets_->attach(nullptr);
  return std::move(sockets_);
}

namespace {

// A new address in the SDP (re-INVITE to another device) is believed at once: a latch on
// the old one would keep sending there. On hold (nullopt) the latch stays.
void signal(Latch& latch, const std::optional<Endpoint>& peer) {
  if (!peer) return latch.set_signalled(std::nullopt);
  const UdpEndpoint to = to_udp(*peer);
  if (latch.latched() && *latch.latched() != to && latch.signalled() != to) latch = Latch();
  latch.set_signalled(to);
}

// RTCP goes where a=rtcp says, else to the RTP port + 1; nowhere separate with rtcp-mux.
std::optional<Endpoint> rtcp_peer(const std::optional<Endpoint>& rtp, const std::optional<Endpoint>& rtcp, bool mux) {
  if (mux || !rtp) return std::nullopt;
  if (rtcp) return rtcp;
  if (rtp->port == 65535) return std::nullopt;
  return Endpoint{rtp->address, uint16_t(rtp->port + 1)};
}

}  // namespace

void MediaSession::add_clock_rates(const std::vector<StreamOffer::ClockRate>& rates) {
  for (const auto& r : rates) clock_rates_.set(r.payload_type, r.hz);
}

void MediaSession::set_peer(LegSide side, const std::optional<Endpoint>& rtp, const std::optional<Endpoint>& rtcp,
                            bool rtcp_mux) {
  signal(latches_[slot(side, false)], rtp);
  signal(latches_[slot(side, true)], rtcp_peer(rtp, rtcp, rtcp_mux));
}

void MediaSession::drain(unsigned i) {
  const int64_t now = steady_now_ns();
  for (unsigned round = 0; round < kMaxRoundsPerWakeup; ++round)
    if (relay_batch(i, now) < kBatch) break;
}

const UdpEndpoint* MediaSession::decide(unsigned i, const sockaddr* source_address, socklen_t length,
                                        const uint8_t* data, size_t size, bool truncated, int64_t now_ns,
                                        Tally& t) {
  ++t.received;
  if (truncated) {
    ++t.truncated;
    return nullptr;
  }
  UdpEndpoint source;
  if (length > source.capacity()) return nullptr;  // not an IP source: cannot happen on a UDP socket
  std::memcpy(source.data(), source_address, length);
  source.resize(length);
  const bool from_lan = i < 2;
  const LatchOutcome verdict = latches_[i].on_packet(source, from_lan ? relay_->lan_sources : relay_->uplink_sources,
                                                          relay_->latch_packets);
  if (!verdict.allowed) {
    ++t.not_allowed;
    return nullptr;
  }
  t.latched += verdict.latched && !verdict.relatched;
  t.relatched += verdict.relatched;
  const std::optional<UdpEndpoint>& to = latches_[i ^ 2u].destination();
  if (!to) {
    ++t.no_peer;
    return nullptr;
  }
  SourceQualities& same_way = figures_[from_lan ? 0 : 1].sources;
  const PacketKind kind = classify_packet(data, size);
  if (kind == PacketKind::rtcp) {
    // Reports on the sources going the other way, and sender reports for round trips.
    if (apply_rtcp(data, size, now_ns, same_way, figures_[from_lan ? 1 : 0].sources))
      ++t.rtcp_read;
    else
      ++t.rtcp_unreadable;
  } else if (kind == PacketKind::rtp) {
    same_way.on_rtp(data, size, now_ns, clock_rates_);
  }
  return &*to;
}

void MediaSession::count_decisions(unsigned i, const Tally& t, int64_t now_ns) {
  // Only media from allowed sources keeps a stream alive: a stranger spraying its ports must
  // not hold them after the call is gone.
  if (t.received > t.not_allowed + t.truncated) last_activity_ns_ = now_ns;
  MediaStats& s = relay_->stats;
  if (t.not_allowed) relay_->drops.add(MediaDrop::source_not_allowed, t.not_allowed);
  if (t.no_peer) relay_->drops.add(MediaDrop::no_peer, t.no_peer);
  if (t.truncated) relay_->drops.add(MediaDrop::truncated, t.truncated);
  if (t.latched) s.latched.inc(t.latched);
  if (t.relatched) s.relatched.inc(t.relatched);
  if (t.rtcp_read) s.rtcp_read.inc(t.rtcp_read);
  if (t.rtcp_unreadable) s.rtcp_unreadable.inc(t.rtcp_unreadable);
  if (t.relatched)
    relay_->log.info("call ", call_id_, " stream ", index_, ": ", i < 2 ? "LAN" : "uplink", " leg re-latched to ",
                     text(latches_[i].latched()));
}

void MediaSession::count_sent(unsigned i, uint64_t sent, uint64_t bytes, uint64_t failed) {
  const bool from_lan = i < 2;
  DirectionFigures& figures = figures_[from_lan ? 0 : 1];
  figures.packets += sent;
  figures.bytes += bytes;
  MediaStats& s = relay_->stats;
  if (sent) {
    (from_lan ? s.packets_to_vendor : s.packets_to_lan).inc(sent);
    (from_lan ? s.bytes_to_vendor : s.bytes_to_lan).inc(bytes);
  }
  if (failed) relay_->drops.add(MediaDrop::send_failed, failed);
}

int receive_batch(int fd, PacketBatch& b) {
  for (unsigned k = 0; k < kBatch; ++k) {
    b.rx_iov[k] = {b.data[k].data(), kMaxDatagram};
    b.rx[k].msg_hdr = {};
    b.rx[k].msg_hdr.msg_name = &b.source[k];
    b.rx[k].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
    b.rx[k].msg_hdr.msg_iov = &b.rx_iov[k];
    b.rx[k].msg_hdr.msg_iovlen = 1;
  }
  return ::recvmmsg(fd, b.rx.data(), kBatch, MSG_DONTWAIT, nullptr);
}

unsigned MediaSession::relay_batch(unsigned i, int64_t now_ns) {
  PacketBatch& b = relay_->batch;
  const int received = receive_batch(sockets_->fd(i), b);
  if (received <= 0) return 0;

  // Decide each datagram: may its source send here, and where does it go.
  Tally tally;
  uint64_t bytes = 0;
  unsigned queued = 0;
  for (int k = 0; k < received; ++k) {
    const mmsghdr& m = b.rx[size_t(k)];
    const size_t size = m.msg_len;
    const UdpEndpoint* to = decide(i, reinterpret_cast<const sockaddr*>(&b.source[size_t(k)]), m.msg_hdr.msg_namelen,
                                   b.data[size_t(k)].data(), size, m.msg_hdr.msg_flags & MSG_TRUNC, now_ns, tally);
    if (!to) continue;
    bytes += size;
    mmsghdr& t = b.tx[queued];
    b.tx_iov[queued] = {b.data[size_t(k)].data(), size};
    t.msg_hdr = {};
    t.msg_hdr.msg_name = const_cast<sockaddr*>(to->data());
    t.msg_hdr.msg_namelen = socklen_t(to->size());
    t.msg_hdr.msg_iov = &b.tx_iov[queued];
    t.msg_hdr.msg_iovlen = 1;
    ++queued;
  }

  // Act: one sendmmsg for the batch; a datagram the kernel refuses is skipped, not retried.
  const int out_fd = sockets_->fd(i ^ 2u);
  unsigned sent = 0, send_failed = 0;
  uint64_t failed_bytes = 0;
  while (sent + send_failed < queued) {
    const unsigned from = sent + send_failed;
    const int r = ::sendmmsg(out_fd, &b.tx[from], queued - from, MSG_DONTWAIT);
    if (r > 0) {
      sent += unsigned(r);
      continue;
    }
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {  // send queue full: drop the rest
      for (unsigned k = from; k < queued; ++k) failed_bytes += b.tx_iov[k].iov_len;
      send_failed += queued - from;
      break;
    }
    failed_bytes += b.tx_iov[from].iov_len;
    ++send_failed;
    relay_->bad_input.warn("send to ", text(latches_[i ^ 2u].destination()), " failed: ", std::strerror(errno));
  }

  // Count, last.
  count_decisions(i, tally, now_ns);
  count_sent(i, sent, bytes - failed_bytes, send_failed);
  return unsigned(received);
}

void MediaSession::relay_one(MediaRing& ring, unsigned i, const RingDatagram& d) {
  Tally tally;
  const UdpEndpoint* to = decide(i, d.source, d.source_length, d.data, d.size, d.truncated, d.now_ns, tally);
  // Act: queued on the ring, sent with the turn's other datagrams; counted on completion.
  if (to) {
    if (const int connected = sockets_->connected_fd(i ^ 2u, *to, d.now_ns); connected >= 0)
      ring.send(sockets_->ring_token(i), connected, d, nullptr, 0);
    else
      ring.send(sockets_->ring_token(i), sockets_->fd(i ^ 2u), d, to->data(), socklen_t(to->size()));
  }
  count_decisions(i, tally, d.now_ns);
}

void MediaSession::count_sent(unsigned i, int result, size_t size) {
  if (result >= 0) return count_sent(i, 1, size, 0);
  count_sent(i, 0, 0, 1);
  relay_->bad_input.warn("send to ", text(latches_[i ^ 2u].destination()), " failed: ", std::strerror(-result));
}

nlohmann::json MediaSession::leg_json(LegSide side) const {
  const Latch& rtp = latches_[slot(side, false)];
  const Endpoint& local = side == LegSide::lan ? ports_.lan_rtp : ports_.uplink_rtp;
  return {{"local", local.to_string()}, {"peer", text(rtp.destination())}, {"latched", rtp.latched().has_value()}};
}

nlohmann::json MediaSession::to_json() const {
  return {{"index", index_},
          {"lan", leg_json(LegSide::lan)},
          {"uplink", leg_json(LegSide::uplink)},
          {"to_vendor", figures_[0].to_json()},
          {"to_lan", figures_[1].to_json()}};
}

}  // namespace outpost::media
