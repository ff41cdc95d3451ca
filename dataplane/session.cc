#include "dataplane/session.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "dataplane/client_hello.h"
#include "dataplane/http_head.h"
#include "dns/dns.h"

namespace outpost::dataplane {

void delay_acks(int fd) {
  int off = 0;
  ::setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &off, sizeof off);
}

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

constexpr uint16_t kQtypeA = 1, kQtypeAAAA = 28;
constexpr uint32_t kMaxCacheTtl = 60;

// The upstream socket is not accepted, so it inherits nothing: the two options that matter
// (no Nagle delay on the handshake's small records, keep-alive for idle WebSockets).
void tune(int fd, bool keepalive) {
  int on = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  if (keepalive) ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
}

// Keep-alive probes start after net.ipv4.tcp_keepalive_time of silence (7200 s by default);
// a relay silent for idle_timeout is closed before that unless idle_timeout is longer, and
// then SO_KEEPALIVE would never send a probe: a setsockopt(2) per connection for nothing.
// Read at start and reload, in the daemon's network namespace; unreadable: keep-alive on.
bool keepalive_can_probe(std::chrono::seconds idle_timeout) {
  long keepalive_time = 0;
  if (FILE* f = std::fopen("/proc/sys/net/ipv4/tcp_keepalive_time", "r")) {
    if (std::fscanf(f, "%ld", &keepalive_time) != 1) keepalive_time = 0;
    std::fclose(f);
  }
  return keepalive_time <= 0 || idle_timeout.count() > keepalive_time;
}

std::string peer_text(const tcp::endpoint& ep) { return Endpoint{ep.address(), ep.port()}.to_string(); }

}  // namespace

ProxySettings ProxySettings::from_config(const config::Config& c) {
  ProxySettings s;
  s.hello_timeout = std::chrono::milliseconds(c.tls.client_hello_timeout_ms);
  s.connect_timeout = std::chrono::milliseconds(c.tls.connect_timeout_ms);
  s.idle_timeout = std::chrono::seconds(c.tls.idle_timeout_s);
  s.upstream_keepalive = keepalive_can_probe(s.idle_timeout);
  s.max_connections = c.tls.max_connections;
  s.relay = c.tls.relay == "copy" ? RelayMode::copy : c.tls.relay == "splice" ? RelayMode::splice : RelayMode::automatic;
  s.own_addresses.push_back(c.lan.address.address);
  if (c.lan.address6) s.own_addresses.push_back(c.lan.address6->address);
  return s;
}

const std::vector<IpAddress>* AddressCache::find(const std::string& name,
                                                 std::chrono::steady_clock::time_point now) const {
  auto it = entries_.find(name);
  return it != entries_.end() && it->second.expires > now ? &it->second.addresses : nullptr;
}

void AddressCache::put(const std::string& name, std::vector<IpAddress> addresses, uint32_t ttl_s,
                       std::chrono::steady_clock::time_point now) {
  if (ttl_s == 0) return;
  if (entries_.size() >= kMaxEntries) std::erase_if(entries_, [&](const auto& kv) { return kv.second.expires <= now; });
  if (entries_.size() >= kMaxEntries) entries_.clear();
  entries_[name] = {std::move(addresses), now + std::chrono::seconds(std::min(ttl_s, kMaxCacheTtl))};
}

ProxyState::ProxyState(asio::io_context& io_context, Logger logger, MetricsRegistry& metrics,
                       std::shared_ptr<dns::UplinkResolver> uplink_resolver)
    : io(io_context),
      log(logger),
      refusal_log(logger.child("refused")),
      stats(TlsStats::make(metrics)),
      refusals(TlsRefusalStats::make(metrics)),
      uplink(std::move(uplink_resolver)) {}

void ProxyState::watch(Deadline kind, std::weak_ptr<Session> session, uint64_t token) {
  auto after = kind == Deadline::hello ? settings.hello_timeout : settings.connect_timeout;
  watched_[int(kind)].push_back({std::chrono::steady_clock::now() + after, std::move(session), token});
  if (!sweeping_) arm_sweeper();
}

// Coarse on purpose: deadlines are kept to within a tick, and however many connections
// arrive the reactor's timer is re-armed at most ten times a second.
void ProxyState::arm_sweeper() {
  sweeping_ = true;
  sweeper_.expires_after(std::chrono::milliseconds(100));
  sweeper_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    self->sweeping_ = false;
    if (!ec) self->sweep();
  });
}

void ProxyState::sweep() {
  auto now = std::chrono::steady_clock::now();
  for (int kind = 0; kind < 2; ++kind) {
    auto& q = watched_[kind];
    while (!q.empty()) {
      // Entries whose session has moved on are dropped as soon as they reach the front,
      // so the ticking stops when no connection is waiting.
      auto s = q.front().session.lock();
      bool waiting = s && s->waiting_for(Deadline(kind), q.front().token);
      if (waiting && q.front().at > now) break;
      uint64_t token = q.front().token;
      q.pop_front();
      if (waiting) s->deadline_passed(Deadline(kind), token);
    }
  }
  if (!watched_[0].empty() || !watched_[1].empty()) arm_sweeper();
}

void ProxyState::stop_watching() {
  watched_[0].clear();
  watched_[1].clear();
  sweeper_.cancel();
}

void ProxyState::refuse_count(Refusal r) {
  stats.refused.inc();
  refusal_counter(refusals, r).inc();
}

Session::Session(std::shared_ptr<ProxyState> state, OwnedFd client, tcp::endpoint peer, ListenPort port, uint64_t id)
    : state_(std::move(state)),
      client_(std::move(client)),
      peer_(peer),
      port_(port),
      id_(id) {}

Session::~Session() {
  if (name_) --name_->active;
  state_->sessions.erase(id_);
}

void Session::start() {
  // TCP_NODELAY and SO_KEEPALIVE: inherited from the listening socket (tls_component.cc).
  capacity_ = port_ == ListenPort::https ? kMaxHelloBuffer : kMaxHttpHead;
  buffer_.reset(new uint8_t[capacity_]);  // uninitialized: only what arrives is read
  if (!state_->poller.add(client_.get(), FdPoller::kStream, client_end_)) return refuse(Refusal::closed_early);
  self_ = shared_from_this();
  state_->watch(Deadline::hello, weak_from_this(), 0);
  // The listener defers the accept until the first bytes are queued (TCP_DEFER_ACCEPT,
  // tls_component.cc), so they are read now, not after another epoll round. A client silent
  // for the whole deferral comes without them: this read finds EAGAIN and EPOLLIN resumes.
  client_ready_.readable = true;
  read_first_bytes();
}

// Lets go of the session once the io_context has finished the current batch of events.
void Session::done() {
  if (self_) asio::post(state_->io, [s = std::move(self_)] {});
}

void Session::on_events(bool upstream, uint32_t events) {
  if (relay_ && relay_->running()) return relay_->ready(upstream, events);
  (upstream ? upstream_ready_ : client_ready_).add(events);
  if (stopped_ || (relay_ && !relay_->running())) return;
  if (!upstream && reading_) return read_first_bytes();
  if (upstream && connecting_) {
    if (events & (EPOLLERR | EPOLLHUP)) {
      int error = 0;
      socklen_t len = sizeof error;
      ::getsockopt(upstream_.get(), SOL_SOCKET, SO_ERROR, &error, &len);
      return connect_failed(boost::system::error_code(error ? error : ECONNREFUSED, boost::system::system_category())
                                .message());
    }
    if (events & EPOLLOUT) return connected();
    return;
  }
  if (upstream && replaying_ && upstream_ready_.writable) return send_replay();
}

bool Session::waiting_for(Deadline kind, uint64_t token) const {
  if (stopped_) return false;
  return kind == Deadline::hello ? reading_ : connecting_ && token == next_candidate_;
}

void Session::deadline_passed(Deadline kind, uint64_t) {
  if (kind == Deadline::hello) {
    timed_out_ = true;
    refuse(Refusal::hello_timeout);
  } else {
    connect_failed("timeout");
  }
}

void Session::stop() {
  stopped_ = true;
  if (relay_ && relay_->running()) return relay_->stop();
  client_.reset();
  upstream_.reset();
  done();
}

void Session::read_first_bytes() {
  if (!client_ready_.readable) return;  // the next EPOLLIN resumes
  const size_t room = capacity_ - filled_;
  ssize_t n = ::recv(client_.get(), buffer_.get() + filled_, room, MSG_DONTWAIT);
  if (n == 0) return first_bytes_complete(true);
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return void(client_ready_.readable = errno == EINTR);
    return refuse(Refusal::closed_early);
  }
  if (size_t(n) < room) client_ready_.short_read();
  filled_ += size_t(n);
  first_bytes_complete(false);
}

// Parse what has arrived; read more while it is a valid prefix, else decide.
void Session::first_bytes_complete(bool closed) {
  Decision d;
  if (port_ == ListenPort::https) {
    ClientHello hello = parse_client_hello(std::span<const uint8_t>(buffer_.get(), filled_));
    if (hello.status == HelloStatus::need_more && !closed) return read_first_bytes();
    if (hello.status == HelloStatus::malformed)
      state_->refusal_log.info(peer_text(peer_), ": malformed ClientHello: ", hello.error);
    d = decide_tls(*state_->policy, hello, state_->wss != nullptr);
    if (d.refusal == Refusal::non_vendor_sni || d.refusal == Refusal::invalid_sni)
      state_->refusal_log.info(peer_text(peer_), ": SNI '", hello.sni.value_or(""), "' is not a vendor name");
  } else {
    HttpHead head = parse_http_head(std::string_view(reinterpret_cast<const char*>(buffer_.get()), filled_));
    if (head.status == HttpHeadStatus::need_more && !closed) return read_first_bytes();
    d = decide_http(*state_->policy, head);
    target_ = head.target.empty() || head.target.front() != '/' ? "/" : head.target;
    if (d.refusal == Refusal::non_vendor_host)
      state_->refusal_log.info(peer_text(peer_), ": Host '", head.host.value_or(""), "' is not a vendor name");
  }
  reading_ = false;
  act(d);  // what was read stays in buffer_ for the replay
}

void Session::act(const Decision& d) {
  decision_ = d;
  switch (d.action) {
    case Action::reset:
      return refuse(*d.refusal);
    case Action::wss_handoff: {
      state_->stats.wss_handed_over.inc();
      state_->poller.remove(client_.get());  // into Asio's reactor, for the SIP transport
      tcp::socket socket(state_->io);
      boost::system::error_code ec;
      socket.assign(peer_.protocol(), client_.release(), ec);
      done();
      if (ec) return;
      return state_->wss->accept(std::move(socket), std::vector<uint8_t>(buffer_.get(), buffer_.get() + filled_));
    }
    case Action::turn:
      return connect_to({state_->policy->turn->address}, state_->policy->turn->port);
    case Action::redirect:
      return redirect();
    case Action::passthrough:
      name_ = &state_->names.entry(d.host);
      ++name_->connections;
      ++name_->active;
      upstream_port_ = port_ == ListenPort::https ? 443 : 80;
      if (auto* cached = state_->addresses.find(d.host, std::chrono::steady_clock::now()))
        return connect_to(*cached, upstream_port_);
      return resolve(d.host, kQtypeA);
  }
}

void Session::refuse(Refusal r) {
  reading_ = connecting_ = replaying_ = false;
  decision_.action = Action::reset;
  decision_.refusal = r;
  state_->refuse_count(r);
  client_.reset();
  upstream_.reset();
  done();
}

void Session::name_failed() {
  if (name_) ++name_->failed;
}

void Session::resolve(const std::string& name, uint16_t qtype) {
  if (!state_->uplink) {
    name_failed();
    return refuse(Refusal::resolve_failed);
  }
  state_->uplink->resolve(name, qtype, [self = shared_from_this(), name, qtype](Result<dns::UplinkAnswer> r) {
    if (self->stopped_) return;
    if (r && r->rcode == 0 && !r->addresses.empty()) {
      self->state_->addresses.put(name, r->addresses, r->ttl, std::chrono::steady_clock::now());
      return self->connect_to(r->addresses, self->upstream_port_);
    }
    if (qtype == kQtypeA && r && r->rcode == 0) return self->resolve(name, kQtypeAAAA);  // IPv6-only host
    self->state_->refusal_log.info("cannot resolve ", name, " over the uplink: ",
                                   r ? "rcode " + std::to_string(r->rcode) : r.error().message);
    self->name_failed();
    self->refuse(Refusal::resolve_failed);
  });
}

void Session::connect_to(std::vector<IpAddress> addresses, uint16_t port) {
  // A vendor name that resolves to outpost itself would make it connect to itself.
  std::erase_if(addresses, [&](const IpAddress& a) {
    const auto& own = state_->settings.own_addresses;
    return a.is_loopback() || a.is_unspecified() || std::find(own.begin(), own.end(), a) != own.end();
  });
  if (addresses.empty()) {
    name_failed();
    return refuse(Refusal::upstream_loop);
  }
  candidates_ = std::move(addresses);
  next_candidate_ = 0;
  upstream_port_ = port;
  connect_next();
}

void Session::connect_next() {
  if (next_candidate_ >= candidates_.size()) {
    name_failed();
    return refuse(Refusal::connect_failed);
  }
  target_endpoint_ = tcp::endpoint(candidates_[next_candidate_++], upstream_port_);
  upstream_.close();  // a failed attempt's socket (closing also takes it out of the poller)
  upstream_ready_ = {};
  upstream_ = OwnedFd(::socket(target_endpoint_.protocol().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!upstream_.is_open()) return refuse(Refusal::connect_failed);
  delay_acks(upstream_.get());
  connecting_ = true;
  state_->watch(Deadline::connect, weak_from_this(), next_candidate_);
  if (::connect(upstream_.get(), target_endpoint_.data(), socklen_t(target_endpoint_.size())) != 0 &&
      errno != EINPROGRESS) {
    std::string why = std::strerror(errno);
    return asio::post(state_->io, [self = shared_from_this(), why, token = next_candidate_] {
      if (self->connecting_ && !self->stopped_ && self->next_candidate_ == token) self->connect_failed(why);
    });
  }
  // Registered once for the connection's life: EPOLLOUT says connected, EPOLLERR refused.
  if (!state_->poller.add(upstream_.get(), FdPoller::kStream, upstream_end_)) return connect_failed("epoll_ctl");
}

void Session::connect_failed(const std::string& why) {
  connecting_ = false;
  if (stopped_) return;
  state_->refusal_log.info("connect to ", Endpoint{target_endpoint_.address(), target_endpoint_.port()}.to_string(),
                           " failed: ", why);
  if (next_candidate_ < candidates_.size()) state_->stats.connect_retries.inc();
  connect_next();
}

void Session::connected() {
  connecting_ = false;
  tune(upstream_.get(), state_->settings.upstream_keepalive);
  replaying_ = true;
  send_replay();
}

// The buffered first bytes, then the relay.
void Session::send_replay() {
  while (replayed_ < filled_) {
    ssize_t n = ::send(upstream_.get(), buffer_.get() + replayed_, filled_ - replayed_, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      replayed_ += size_t(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return void(upstream_ready_.writable = false);  // EPOLLOUT resumes
    return refuse(Refusal::connect_failed);
  }
  replaying_ = false;
  start_relay();
}

void Session::start_relay() {
  buffer_.reset();
  auto& stats = state_->stats;
  (decision_.action == Action::turn ? stats.turn_forwarded : stats.passed_through).inc();
  Relay::Hooks hooks;
  hooks.on_bytes = [this](bool to_vendor, size_t n) {
    auto& s = state_->stats;
    (to_vendor ? s.bytes_to_vendor : s.bytes_to_client).inc(n);
    if (name_) (to_vendor ? name_->bytes_to_vendor : name_->bytes_to_client) += n;
  };
  hooks.on_end = [this](RelayEnd end) {
    auto& s = state_->stats;
    if (end == RelayEnd::closed) s.relays_closed.inc();
    else if (end == RelayEnd::idle) s.relays_idle.inc();
    else if (end == RelayEnd::reset) s.relays_reset.inc();
    done();
  };
  relay_.emplace(state_->io, client_, upstream_, state_->settings.relay, state_->settings.idle_timeout,
                 std::move(hooks), weak_from_this(), state_->buffers);
  relay_->start(client_ready_, upstream_ready_);
}

void Session::redirect() {
  state_->stats.redirected.inc();
  std::string reply = "HTTP/1.1 308 Permanent Redirect\r\nLocation: https://" + decision_.host + target_ +
                      "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  // A few hundred bytes into an empty send buffer: one send, then the FIN.
  (void)::send(client_.get(), reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::shutdown(client_.get(), SHUT_WR);
  client_.close();
  done();
}

}  // namespace outpost::dataplane
