#include "sipalg/transport.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <type_traits>

#include "sipalg/framing.h"
#include "sipalg/ws_transport.h"

namespace outpost::sip {

namespace asio = boost::asio;
using udp = asio::ip::udp;
using tcp = asio::ip::tcp;
using tls_stream = asio::ssl::stream<tcp::socket>;
using Clock = std::chrono::steady_clock;

// A UDP listener reads with recvmmsg(2) after Asio reports it readable (async_wait, which
// Asio never tries speculatively). async_receive_from cost two recvfrom(2) per datagram: the
// read, then the next operation's speculative read, which ends in EAGAIN whenever the
// datagram was alone (strace: ~5 of them per call). A batch shorter than kBatch means the
// queue was empty, so the socket goes back to waiting without that extra read. Asio 1.74
// re-arms every non-speculative wait with an epoll_ctl(2) (EPOLL_CTL_MOD), which also looks
// at the socket again, so a datagram that arrived meanwhile is reported at once (the socket
// is edge-triggered: without that look a datagram arriving between the EAGAIN and the wait
// would go unreported until the next one); but it means a lone datagram still costs two
// system calls. Measured at 300 calls/s (strace -c): recvmmsg + epoll_ctl 10 per call,
// against 12 recvfrom before; under load one batch serves every datagram queued meanwhile.
struct Transports::UdpSide {
  static constexpr unsigned kBatch = 8;
  // Larger than any UDP payload (65507 over IPv4), so MSG_TRUNC and a full slot cannot
  // happen; both are still treated as oversize should that ever change.
  static constexpr size_t kSlot = 65536;
  Side side;
  udp::socket socket;
  std::unique_ptr<char[]> slots = std::make_unique_for_overwrite<char[]>(kBatch * kSlot);
  std::array<mmsghdr, kBatch> headers{};
  std::array<iovec, kBatch> vectors{};
  std::array<sockaddr_storage, kBatch> senders{};
  uint64_t packets = 0;
  uint16_t extra_port = 0;  // an extra LAN port (Flow::local_port)
  UdpSide(asio::io_context& io, Side s) : side(s), socket(io) {}
  // Reads up to kBatch datagrams without blocking: how many, or -1 with errno (EAGAIN: none).
  int read_batch() {
    for (unsigned i = 0; i < kBatch; ++i) {
      vectors[i] = {slots.get() + i * kSlot, kSlot};
      headers[i].msg_hdr = {};
      headers[i].msg_hdr.msg_name = &senders[i];
      headers[i].msg_hdr.msg_namelen = sizeof senders[i];
      headers[i].msg_hdr.msg_iov = &vectors[i];
      headers[i].msg_hdr.msg_iovlen = 1;
    }
    return ::recvmmsg(socket.native_handle(), headers.data(), kBatch, MSG_DONTWAIT, nullptr);
  }
  std::string_view datagram(unsigned i) const { return {slots.get() + i * kSlot, headers[i].msg_len}; }
  bool truncated(unsigned i) const { return headers[i].msg_hdr.msg_flags & MSG_TRUNC; }
  udp::endpoint sender(unsigned i) const {
    udp::endpoint e;
    const size_t len = std::min<size_t>(headers[i].msg_hdr.msg_namelen, e.capacity());
    std::memcpy(e.data(), &senders[i], len);
    e.resize(len);
    return e;
  }
};

struct Transports::TcpSide {
  Side side;
  tcp::acceptor acceptor;
  uint64_t accepted = 0;
  uint16_t extra_port = 0;
  uint64_t messages = 0;
  TcpSide(asio::io_context& io, Side s) : side(s), acceptor(io) {}
};

struct Transports::TlsSide {
  Side side;
  tcp::acceptor acceptor;
  asio::ssl::context context{asio::ssl::context::tls_server};
  uint64_t accepted = 0, handshake_failures = 0;
  TlsSide(asio::io_context& io, Side s) : side(s), acceptor(io) {}
};

struct Transports::WssSide {
  Side side;
  uint16_t port;
  asio::ssl::context context{asio::ssl::context::tls_server};
  uint64_t accepted = 0, handshake_failures = 0;
  WssSide(Side s, uint16_t p) : side(s), port(p) {}
};

struct Transports::UplinkTls {
  asio::ssl::context context{asio::ssl::context::tls_client};
  bool verify = true;
  uint16_t source_port = 0;
  PeerNameLookup names;
  uint64_t opened = 0, handshake_failures = 0, ephemeral_ports = 0;

  std::optional<PeerName> name_of(const IpAddress& a) const { return names ? names(a) : std::nullopt; }
  // A connection opened, bound to `bound_port` (0: an ephemeral one, or none).
  void count_opened(uint16_t bound_port) {
    ++opened;
    if (source_port && bound_port != source_port) ++ephemeral_ports;
  }
};

namespace {
// TLS 1.2 or newer, for outpost's listeners and its connections to the vendor alike.
constexpr auto kTls12OrNewer = asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                               asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                               asio::ssl::context::no_tlsv1_1;

// A server context for SIP over TLS and WSS: the chain and key in PEM.
Result<void> load_server_context(asio::ssl::context& context, const std::string& certificate, const std::string& key,
                                 const char* what) {
  boost::system::error_code ec;
  context.set_options(kTls12OrNewer | asio::ssl::context::single_dh_use, ec);
  if (!ec) context.use_certificate_chain_file(certificate, ec);
  if (ec) return make_error(std::string("sip: ") + what + " certificate " + certificate + ": " + ec.message());
  context.use_private_key_file(key, asio::ssl::context::pem, ec);
  if (ec) return make_error(std::string("sip: ") + what + " key " + key + ": " + ec.message());
  return {};
}
}  // namespace

Result<uint16_t> bind_client(tcp::socket& socket, const tcp::endpoint& to, const IpAddress& bind, uint16_t port) {
  boost::system::error_code ec;
  socket.open(to.protocol(), ec);
  if (!ec && port) {
    int one = 1;
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    socket.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) socket.bind(tcp::endpoint(bind, port), ec);
    if (!ec) return port;
    ec.clear();
  }
  if (!bind.is_unspecified()) socket.bind(tcp::endpoint(bind, 0), ec);
  if (ec) return make_error("bind: " + ec.message());
  return uint16_t(0);
}

bool prepare_client_tls(ssl_st* ssl, const std::optional<PeerName>& name, const IpAddress& peer, bool verify) {
  std::string host = name ? name->host : peer.to_string();
  bool is_ip = parse_address(host).has_value();
  if (!is_ip && !SSL_set_tlsext_host_name(ssl, host.c_str())) return false;
  if (!verify) {
    SSL_set_verify(ssl, SSL_VERIFY_NONE, nullptr);
    return true;
  }
  SSL_set_verify(ssl, SSL_VERIFY_PEER, nullptr);
  if (is_ip) return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) == 1;
  SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  return SSL_set1_host(ssl, host.c_str()) == 1;
}

class TcpConnection : public std::enable_shared_from_this<TcpConnection> {
 public:
  TcpConnection(Transports& owner, tcp::socket socket, Side side, uint64_t id)
      : owner_(owner), alive_(owner.alive_), socket_(std::move(socket)), side_(side), id_(id) {}
  // An accepted TLS connection: the handshake comes first (start_tls).
  TcpConnection(Transports& owner, tcp::socket socket, asio::ssl::context& context, Side side, uint64_t id)
      : owner_(owner), alive_(owner.alive_), socket_(socket.get_executor()), side_(side), id_(id) {
    tls_.emplace(std::move(socket), context);
  }

  void start_reading() {
    boost::system::error_code ec;
    auto ep = lowest().remote_endpoint(ec);
    if (!ec) peer_ = Endpoint{ep.address(), ep.port()};
    connected_ = true;
    last_activity_ = Clock::now();
    read();
    flush();
  }

  void start_tls(uint64_t* failures) {
    boost::system::error_code ec;
    auto ep = lowest().remote_endpoint(ec);
    if (!ec) peer_ = Endpoint{ep.address(), ep.port()};
    tls_->async_handshake(asio::ssl::stream_base::server, [self = shared_from_this(), failures](boost::system::error_code ec) {
      if (self->ended_) return;  // closed by the sweep (handshake timeout, counted there)
      if (ec) {
        if (self->alive_.lock()) ++*failures, self->owner_.dropped(self->side_, "tls_handshake");
        return self->fail("TLS handshake: " + ec.message());
      }
      self->start_reading();
    });
  }

  // A TLS connection outpost opens (to the vendor): connect, then the client handshake.
  TcpConnection(Transports& owner, asio::io_context& io, asio::ssl::context& context, Side side, uint64_t id)
      : owner_(owner), alive_(owner.alive_), socket_(io), side_(side), id_(id) {
    tls_.emplace(tcp::socket(io), context);
  }

  // `source_port`: see bind_client. TLS (the client constructor): `name` and `verify`
  // choose the certificate check, `failures` counts failed handshakes.
  // Returns the port bound (0: an ephemeral one, or none when it failed at once).
  uint16_t connect(const tcp::endpoint& to, const IpAddress& bind, uint16_t source_port = 0,
                   std::optional<PeerName> name = std::nullopt, bool verify = true, uint64_t* failures = nullptr) {
    peer_ = Endpoint{to.address(), to.port()};
    outgoing_ = true;
    auto bound = bind_client(lowest(), to, bind, source_port);
    if (!bound) return fail("connect: " + bound.error().message), 0;
    if (tls_ && !prepare_client_tls(tls_->native_handle(), name, to.address(), verify)) return fail("TLS setup"), 0;
    lowest().async_connect(to, [self = shared_from_this(), failures](boost::system::error_code ec) {
      if (ec) return self->fail("connect: " + ec.message());
      if (!self->tls_) return self->start_reading();
      self->tls_->async_handshake(asio::ssl::stream_base::client, [self, failures](boost::system::error_code ec) {
        if (ec) {
          if (self->alive_.lock() && failures) ++*failures, self->owner_.dropped(self->side_, "tls_handshake");
          return self->fail("TLS handshake: " + ec.message());
        }
        self->start_reading();
      });
    });
    return *bound;
  }

  void send(const std::string& bytes) {
    queue_.push_back(bytes);
    if (connected_) flush();
  }

  void close() {
    boost::system::error_code ec;
    lowest().close(ec);
  }
  // Closed by the Transports' sweep (a deadline passed; counted by the caller).
  void end(const std::string& why) { fail(why); }

  uint64_t id() const { return id_; }
  bool accepted() const { return !outgoing_; }  // a peer opened it
  bool established() const { return connected_; }
  Clock::time_point opened() const { return opened_; }
  Clock::time_point last_activity() const { return last_activity_; }
  Side side() const { return side_; }
  const Endpoint& peer() const { return peer_; }
  bool open() const { return tls_ ? tls_->next_layer().is_open() : socket_.is_open(); }
  void set_local_port(uint16_t p) { local_port_ = p; }
  uint16_t flow_local_port() const { return local_port_; }
  Transport transport() const { return tls_ ? Transport::tls : Transport::tcp; }

 private:
  Flow flow() const { return Flow{side_, transport(), peer_, id_, local_port_}; }
  tcp::socket& lowest() { return tls_ ? tls_->next_layer() : socket_; }

  void fail(const std::string& why) {
    ended_ = true;
    if (alive_.lock()) {
      owner_.log_.debug("tcp ", peer_.to_string(), ": ", why);
      if (outgoing_ && !connected_) owner_.unreachable(flow(), why);
    }
    outgoing_ = false;
    close();
    if (alive_.lock()) owner_.forget(id_);
  }

  void read() {
    auto self = shared_from_this();
    char* at = chunk_.data();
    auto done = [self](boost::system::error_code ec, size_t n) {
      if (ec) return self->fail(ec == asio::error::eof ? "closed by peer" : ec.message());
      if (!self->alive_.lock()) return;
      self->last_activity_ = Clock::now();  // CRLF keep-alives count as traffic
      self->buffer_.append(self->chunk_.data(), n);
      self->consume();
      if (self->open()) self->read();
    };
    if (tls_) tls_->async_read_some(asio::buffer(at, chunk_.size()), done);
    else socket_.async_read_some(asio::buffer(at, chunk_.size()), done);
  }

  void consume() {
    size_t used = 0;
    while (used < buffer_.size()) {
      Frame f = next_frame(std::string_view(buffer_).substr(used), owner_.max_bytes_);
      if (f.kind == Frame::need_more) break;
      if (f.kind == Frame::error) {
        owner_.dropped(side_, "bad_framing");
        buffer_.clear();
        return fail("unframeable stream");
      }
      if (f.kind == Frame::ping) send("\r\n");  // RFC 5626 pong
      if (f.kind == Frame::message) owner_.deliver(flow(), std::string_view(buffer_).substr(used, f.length));
      used += f.length;
      if (!open()) return;
    }
    buffer_.erase(0, used);
  }

  void flush() {
    if (writing_ || queue_.empty() || !open()) return;
    writing_ = true;
    auto self = shared_from_this();
    auto done = [self](boost::system::error_code ec, size_t) {
      self->writing_ = false;
      if (ec) return self->fail("write: " + ec.message());
      self->last_activity_ = Clock::now();
      self->queue_.pop_front();
      self->flush();
    };
    if (tls_) asio::async_write(*tls_, asio::buffer(queue_.front()), done);
    else asio::async_write(socket_, asio::buffer(queue_.front()), done);
  }

  Transports& owner_;
  std::weak_ptr<bool> alive_;
  tcp::socket socket_;
  std::optional<tls_stream> tls_;
  uint16_t local_port_ = 0;
  Side side_;
  uint64_t id_;
  Endpoint peer_;
  bool connected_ = false, writing_ = false;
  bool outgoing_ = false;  // opened by outpost: a failure before it is up makes the peer unreachable
  bool ended_ = false;     // fail() ran: late completions must not count again
  Clock::time_point opened_ = Clock::now(), last_activity_ = opened_;
  std::array<char, 16384> chunk_{};
  std::string buffer_;
  std::deque<std::string> queue_;
};

Transports::Transports(asio::io_context& io, Logger log, size_t max_message_bytes, MessageHandler on_message,
                       DropHandler on_drop)
    : io_(io),
      log_(log),
      noisy_(log),
      max_bytes_(max_message_bytes),
      on_message_(std::move(on_message)),
      on_drop_(std::move(on_drop)),
      sweep_timer_(io) {}

Transports::~Transports() { close(); }

Result<void> Transports::open(Side side, const IpAddress& address, uint16_t udp_port, uint16_t tcp_port) {
  bind_address_[side == Side::lan ? 0 : 1] = address;
  auto u = std::make_unique<UdpSide>(io_, side);
  boost::system::error_code ec;
  udp::endpoint at(address, udp_port);
  u->socket.open(at.protocol(), ec);
  if (!ec) u->socket.set_option(asio::socket_base::receive_buffer_size(1 << 20), ec);
  if (!ec) u->socket.bind(at, ec);
  if (ec) return make_error(std::string("sip: UDP ") + Endpoint{address, udp_port}.to_string() + ": " + ec.message());
  if (tcp_port) {
    auto t = std::make_unique<TcpSide>(io_, side);
    tcp::endpoint tat(address, tcp_port);
    t->acceptor.open(tat.protocol(), ec);
    if (!ec) t->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) t->acceptor.bind(tat, ec);
    if (!ec) t->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return make_error(std::string("sip: TCP ") + Endpoint{address, tcp_port}.to_string() + ": " + ec.message());
    accept(*t);
    tcp_[side] = std::move(t);
    arm_sweep();
  }
  receive(*u);
  udp_[side] = std::move(u);
  return {};
}

Result<void> Transports::open_tls(Side side, const IpAddress& address, uint16_t port, const std::string& certificate,
                                  const std::string& key) {
  auto t = std::make_unique<TlsSide>(io_, side);
  if (auto r = load_server_context(t->context, certificate, key, "TLS"); !r) return r;
  boost::system::error_code ec;
  tcp::endpoint at(address, port);
  t->acceptor.open(at.protocol(), ec);
  if (!ec) t->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) t->acceptor.bind(at, ec);
  if (!ec) t->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return make_error(std::string("sip: TLS ") + Endpoint{address, port}.to_string() + ": " + ec.message());
  accept_tls(*t);
  tls_[side] = std::move(t);
  arm_sweep();
  return {};
}

Result<void> Transports::open_extra(Side side, const IpAddress& address, uint16_t port) {
  auto u = std::make_unique<UdpSide>(io_, side);
  u->extra_port = port;
  boost::system::error_code ec;
  udp::endpoint at(address, port);
  u->socket.open(at.protocol(), ec);
  if (!ec) u->socket.set_option(asio::socket_base::receive_buffer_size(1 << 20), ec);
  if (!ec) u->socket.bind(at, ec);
  if (ec) return make_error(std::string("sip: UDP ") + Endpoint{address, port}.to_string() + ": " + ec.message());
  auto t = std::make_unique<TcpSide>(io_, side);
  t->extra_port = port;
  tcp::endpoint tat(address, port);
  t->acceptor.open(tat.protocol(), ec);
  if (!ec) t->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) t->acceptor.bind(tat, ec);
  if (!ec) t->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return make_error(std::string("sip: TCP ") + Endpoint{address, port}.to_string() + ": " + ec.message());
  accept(*t);
  receive(*u);
  extra_udp_[port] = std::move(u);
  extra_tcp_[port] = std::move(t);
  arm_sweep();
  return {};
}

Result<void> Transports::enable_wss(Side side, uint16_t port, const std::string& certificate, const std::string& key) {
  auto w = std::make_unique<WssSide>(side, port);
  if (auto r = load_server_context(w->context, certificate, key, "WSS"); !r) return r;
  wss_ = std::move(w);
  arm_sweep();
  return {};
}

bool Transports::accept_wss(tcp::socket socket, std::vector<uint8_t> first_bytes) {
  if (!wss_) return false;
  ++wss_->accepted;
  uint64_t id = next_id_++;
  if (!admit(wss_->side, socket, id)) return true;  // refused and counted; the socket closes here
  auto c = std::make_shared<WsConnection>(*this, std::move(socket), wss_->context, std::move(first_bytes), wss_->side,
                                          id);
  ws_connections_[c->id()] = c;
  c->start();
  return true;
}

void Transports::unreachable(const Flow& to, const std::string& why) {
  noisy_.warn("no ", sip::to_string(to.transport), " connection to ", to.peer.to_string(), ": ", why);
  if (!on_unreachable_) return;
  // Posted: the failure may be noticed inside send(), i.e. inside the proxy's own call.
  asio::post(io_, [handler = on_unreachable_, to, alive = std::weak_ptr<bool>(alive_)] {
    if (alive.lock()) handler(to);
  });
}

void Transports::ws_handshake_failed(Side side, const char* reason) {
  if (wss_) ++wss_->handshake_failures;
  on_drop_(side, reason);
}

void Transports::accept_tls(TlsSide& t) {
  std::weak_ptr<bool> alive = alive_;
  t.acceptor.async_accept([this, &t, alive](boost::system::error_code ec, tcp::socket socket) {
    if (!alive.lock() || !t.acceptor.is_open()) return;
    if (!ec) {
      ++t.accepted;
      uint64_t id = next_id_++;
      if (admit(t.side, socket, id)) {
        auto c = std::make_shared<TcpConnection>(*this, std::move(socket), t.context, t.side, id);
        connections_[c->id()] = c;
        c->start_tls(&t.handshake_failures);
      }
    }
    accept_tls(t);
  });
}

void Transports::close() {
  boost::system::error_code ec;
  for (auto& [s, u] : udp_) u->socket.close(ec);
  for (auto& [s, t] : tcp_) t->acceptor.close(ec);
  for (auto& [s, t] : tls_) t->acceptor.close(ec);
  for (auto& [p, u] : extra_udp_) u->socket.close(ec);
  for (auto& [p, t] : extra_tcp_) t->acceptor.close(ec);
  for (auto& [id, c] : connections_) c->close();
  connections_.clear();
  for (auto& [id, c] : ws_connections_) c->close();
  ws_connections_.clear();
  for (const auto& [id, source] : admitted_) admission_.release(source);
  admitted_.clear();
  sweep_timer_.cancel();
  sweeping_ = false;
}

bool Transports::admit(Side side, const tcp::socket& socket, uint64_t id) {
  if (side != Side::lan) return true;
  boost::system::error_code ec;
  auto peer = socket.remote_endpoint(ec);
  if (ec) return false;  // already gone: nothing to hold open
  auto verdict = admission_.admit(peer.address());
  if (verdict == ConnectionAdmission::Verdict::admitted) {
    admitted_[id] = peer.address();
    return true;
  }
  noisy_.warn("connection from ", Endpoint{peer.address(), peer.port()}.to_string(), " refused: ",
              verdict == ConnectionAdmission::Verdict::over_total
                  ? "sip.max_connections (" + std::to_string(admission_.limits().max_connections) + ") reached"
                  : "sip.max_connections_per_source (" + std::to_string(admission_.limits().max_per_source) +
                        ") reached");
  on_drop_(side, "connection_limit");
  return false;
}

void Transports::release(uint64_t id) {
  auto it = admitted_.find(id);
  if (it == admitted_.end()) return;
  admission_.release(it->second);
  admitted_.erase(it);
}

void Transports::arm_sweep() {
  if (sweeping_) return;
  sweeping_ = true;
  sweep_timer_.expires_after(admission_.limits().sweep_interval());
  sweep_timer_.async_wait([this, alive = std::weak_ptr<bool>(alive_)](boost::system::error_code ec) {
    if (ec || !alive.lock() || !sweeping_) return;
    sweeping_ = false;
    sweep();
    arm_sweep();
  });
}

void Transports::sweep() {
  const auto now = Clock::now();
  const auto& limits = admission_.limits();
  // TCP/TLS and WSS connections alike. Collected first: ending a connection removes it from
  // its map.
  auto sweep_map = [&](const auto& connections) {
    std::vector<std::pair<typename std::decay_t<decltype(connections)>::mapped_type, Expiry>> expired;
    for (const auto& [id, c] : connections)
      if (auto e = expiry(c->accepted(), c->side() == Side::lan, c->established(), c->opened(),
                          c->last_activity(), now, limits);
          e != Expiry::none)
        expired.emplace_back(c, e);
    for (auto& [c, e] : expired) {
      const char* reason = e == Expiry::handshake_timeout ? "handshake_timeout" : "idle_timeout";
      on_drop_(c->side(), reason);
      c->end(reason);
    }
  };
  sweep_map(connections_);
  sweep_map(ws_connections_);
}

nlohmann::json Transports::connection_status() const {
  const auto& l = admission_.limits();
  return {{"lan_accepted", admission_.open()},
          {"max_connections", l.max_connections},
          {"sources", admission_.sources()},
          {"busiest_source", admission_.busiest_source()},
          {"max_per_source", l.max_per_source},
          {"handshake_timeout_ms", l.handshake_timeout.count()},
          {"idle_timeout_ms", l.idle_timeout.count()}};
}

uint16_t Transports::udp_port(Side side) const {
  auto it = udp_.find(side);
  boost::system::error_code ec;
  return it == udp_.end() ? 0 : it->second->socket.local_endpoint(ec).port();
}

void Transports::receive(UdpSide& u) {
  std::weak_ptr<bool> alive = alive_;
  u.socket.async_wait(udp::socket::wait_read, [this, &u, alive](boost::system::error_code ec) {
    if (!alive.lock() || !u.socket.is_open()) return;
    if (ec) return receive(u);
    read_datagrams(u);
  });
}

void Transports::read_datagrams(UdpSide& u) {
  const int got = u.read_batch();
  if (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
    noisy_.warn("UDP receive on ", to_string(u.side), ": ", std::strerror(errno));
  const unsigned n = got > 0 ? static_cast<unsigned>(got) : 0;
  for (unsigned i = 0; i < n && u.socket.is_open(); ++i) {  // a handler may close the listener
    ++u.packets;
    const std::string_view bytes = u.datagram(i);
    if (u.truncated(i) || bytes.size() >= UdpSide::kSlot || bytes.size() > max_bytes_) on_drop_(u.side, "oversize");
    else if (!bytes.empty() && bytes.size() <= 4 && bytes.find_first_not_of("\r\n") == std::string_view::npos) {
      // CRLF keep-alive on UDP: nothing to do.
    } else {
      const udp::endpoint sender = u.sender(i);
      Flow from{u.side, Transport::udp, Endpoint{sender.address(), sender.port()}, 0, u.extra_port};
      on_message_(from, bytes);
    }
  }
  if (!u.socket.is_open()) return;
  if (n < UdpSide::kBatch) return receive(u);
  // A full batch: more are probably queued. Read on after whatever else is waiting to run,
  // without the wait's epoll_ctl (the io_context may still poll epoll once in between).
  asio::post(io_, [this, &u, alive = std::weak_ptr<bool>(alive_)] {
    if (alive.lock() && u.socket.is_open()) read_datagrams(u);
  });
}

void Transports::accept(TcpSide& t) {
  std::weak_ptr<bool> alive = alive_;
  t.acceptor.async_accept([this, &t, alive](boost::system::error_code ec, tcp::socket socket) {
    if (!alive.lock() || !t.acceptor.is_open()) return;
    if (!ec) {
      ++t.accepted;
      uint64_t id = next_id_++;
      if (admit(t.side, socket, id)) {
        auto c = std::make_shared<TcpConnection>(*this, std::move(socket), t.side, id);
        c->set_local_port(t.extra_port);
        connections_[c->id()] = c;
        c->start_reading();
      }
    }
    accept(t);
  });
}

std::shared_ptr<TcpConnection> Transports::connection_to(const Flow& to) {
  if (to.connection)
    if (auto it = connections_.find(to.connection); it != connections_.end() && it->second->open()) return it->second;
  for (auto& [id, c] : connections_)
    if (c->side() == to.side && c->open() && c->transport() == to.transport && c->peer().address == to.peer.address &&
        c->peer().port == to.peer.port)
      return c;
  const IpAddress& bind = bind_address_[to.side == Side::lan ? 0 : 1];
  tcp::endpoint peer(to.peer.address, to.peer.port);
  if (to.transport == Transport::tls) {
    // Devices are reached over their own TLS connection only; the vendor over one outpost opens.
    if (to.side != Side::uplink || !uplink_tls_) return nullptr;
    auto& u = *uplink_tls_;
    auto c = std::make_shared<TcpConnection>(*this, io_, u.context, to.side, next_id_++);
    connections_[c->id()] = c;
    u.count_opened(c->connect(peer, bind, u.source_port, u.name_of(to.peer.address), u.verify, &u.handshake_failures));
    return c;
  }
  auto c = std::make_shared<TcpConnection>(*this, tcp::socket(io_), to.side, next_id_++);
  connections_[c->id()] = c;
  c->connect(peer, bind);
  return c;
}

std::shared_ptr<WsConnection> Transports::ws_connection_to(const Flow& to) {
  auto it = ws_connections_.find(to.connection);
  if (it != ws_connections_.end() && it->second->open()) return it->second;
  for (auto& [id, c] : ws_connections_)
    if (c->side() == to.side && c->open() && c->peer().address == to.peer.address && c->peer().port == to.peer.port)
      return c;
  // Browsers are reached over their own connection only; the vendor over one outpost opens.
  if (to.side != Side::uplink || !uplink_tls_) return nullptr;
  auto& u = *uplink_tls_;
  auto c = std::make_shared<WsConnection>(*this, io_, u.context, to.side, next_id_++);
  ws_connections_[c->id()] = c;
  u.count_opened(c->connect(tcp::endpoint(to.peer.address, to.peer.port), bind_address_[1], u.source_port,
                            u.name_of(to.peer.address), u.verify, &u.handshake_failures));
  return c;
}

Result<void> Transports::enable_uplink_tls(const std::string& ca_file, bool verify, uint16_t source_port,
                                           PeerNameLookup names) {
  auto u = std::make_unique<UplinkTls>();
  boost::system::error_code ec;
  u->context.set_options(kTls12OrNewer, ec);
  if (!ec) {
    if (ca_file.empty()) u->context.set_default_verify_paths(ec);
    else u->context.load_verify_file(ca_file, ec);
  }
  if (ec) return make_error("sip: uplink CA " + (ca_file.empty() ? std::string("(system store)") : ca_file) + ": " +
                            ec.message());
  u->verify = verify;
  u->source_port = source_port;
  u->names = std::move(names);
  uplink_tls_ = std::move(u);
  return {};
}

bool Transports::send(const Flow& to, const std::string& bytes) {
  if (to.transport == Transport::wss) {
    auto c = ws_connection_to(to);
    if (!c) return false;
    c->send(bytes);
    return true;
  }
  if (is_stream(to.transport)) {
    auto c = connection_to(to);
    if (!c) return false;
    c->send(bytes);
    return true;
  }
  UdpSide* u = nullptr;
  if (to.side == Side::lan && to.local_port)
    if (auto x = extra_udp_.find(to.local_port); x != extra_udp_.end()) u = x->second.get();
  if (!u) {
    auto it = udp_.find(to.side);
    if (it == udp_.end()) return false;
    u = it->second.get();
  }
  boost::system::error_code ec;
  u->socket.send_to(asio::buffer(bytes), udp::endpoint(to.peer.address, to.peer.port), 0, ec);
  if (ec) {
    ++send_errors_;
    noisy_.warn("send to ", to.peer.to_string(), ": ", ec.message());
    return false;
  }
  return true;
}

nlohmann::json Transports::status() const {
  nlohmann::json rows = nlohmann::json::array();
  boost::system::error_code ec;
  for (const auto& [s, u] : udp_) {
    auto ep = u->socket.local_endpoint(ec);
    rows.push_back({{"side", to_string(s)}, {"transport", "udp"},
                    {"address", Endpoint{ep.address(), ep.port()}.to_string()}, {"received", u->packets},
                    {"accepted", 0}, {"connections", 0}});
  }
  for (const auto& [s, t] : tcp_) {
    auto ep = t->acceptor.local_endpoint(ec);
    size_t open = 0;
    for (const auto& [id, c] : connections_) open += c->side() == s && c->open() && c->transport() == Transport::tcp;
    rows.push_back({{"side", to_string(s)}, {"transport", "tcp"},
                    {"address", Endpoint{ep.address(), ep.port()}.to_string()},
                    {"received", tcp_messages_[s == Side::lan ? 0 : 1]}, {"accepted", t->accepted}, {"connections", open}});
  }
  for (const auto& [port, u] : extra_udp_) {
    rows.push_back({{"side", to_string(u->side)}, {"transport", "udp"},
                    {"address", Endpoint{bind_address_[0], port}.to_string()}, {"received", u->packets},
                    {"accepted", 0}, {"connections", 0}, {"extra", true}});
  }
  for (const auto& [port, t] : extra_tcp_) {
    size_t open = 0;
    for (const auto& [id, c] : connections_) open += c->open() && c->flow_local_port() == port;
    rows.push_back({{"side", to_string(t->side)}, {"transport", "tcp"},
                    {"address", Endpoint{bind_address_[0], port}.to_string()}, {"received", 0},
                    {"accepted", t->accepted}, {"connections", open}, {"extra", true}});
  }
  for (const auto& [s, t] : tls_) {
    auto ep = t->acceptor.local_endpoint(ec);
    size_t open = 0;
    for (const auto& [id, c] : connections_) open += c->side() == s && c->open() && c->transport() == Transport::tls;
    rows.push_back({{"side", to_string(s)}, {"transport", "tls"},
                    {"address", Endpoint{ep.address(), ep.port()}.to_string()},
                    {"received", tls_messages_[s == Side::lan ? 0 : 1]}, {"accepted", t->accepted}, {"connections", open},
                    {"handshake_failures", t->handshake_failures}});
  }
  if (uplink_tls_) {
    size_t open = 0;
    for (const auto& [id, c] : connections_) open += c->side() == Side::uplink && c->open() && c->transport() == Transport::tls;
    for (const auto& [id, c] : ws_connections_) open += c->side() == Side::uplink && c->open();
    rows.push_back({{"side", "uplink"}, {"transport", "tls/wss client"},
                    {"address", Endpoint{bind_address_[1], uplink_tls_->source_port}.to_string()},
                    {"received", tls_messages_[1] + wss_messages_[1]}, {"accepted", 0}, {"opened", uplink_tls_->opened},
                    {"connections", open}, {"handshake_failures", uplink_tls_->handshake_failures},
                    {"ephemeral_ports", uplink_tls_->ephemeral_ports}, {"verify", uplink_tls_->verify}});
  }
  if (wss_) {
    size_t open = 0;
    for (const auto& [id, c] : ws_connections_) open += c->open();
    rows.push_back({{"side", to_string(wss_->side)}, {"transport", "wss"},
                    {"address", Endpoint{bind_address_[wss_->side == Side::lan ? 0 : 1], wss_->port}.to_string()},
                    {"received", wss_messages_[wss_->side == Side::lan ? 0 : 1]}, {"accepted", wss_->accepted},
                    {"connections", open}, {"handshake_failures", wss_->handshake_failures}});
  }
  return rows;
}

}  // namespace outpost::sip
