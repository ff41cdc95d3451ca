#include "dataplane/session.h"

#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>

#include "dataplane/client_hello.h"
#include "dataplane/http_head.h"
#include "dns/dns.h"

namespace outpost::dataplane {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

constexpr uint16_t kQtypeA = 1, kQtypeAAAA = 28;
constexpr uint32_t kMaxCacheTtl = 60;

void tune(tcp::socket& s) {
  boost::system::error_code ec;
  s.set_option(tcp::no_delay(true), ec);
  s.set_option(asio::socket_base::keep_alive(true), ec);
}

void reset_socket(tcp::socket& s) {
  boost::system::error_code ec;
  if (!s.is_open()) return;
  s.set_option(asio::socket_base::linger(true, 0), ec);
  s.close(ec);
}

std::string peer_text(const tcp::socket& s) {
  boost::system::error_code ec;
  auto ep = s.remote_endpoint(ec);
  return ec ? std::string("?") : Endpoint{ep.address(), ep.port()}.to_string();
}

}  // namespace

ProxySettings ProxySettings::from_config(const config::Config& c) {
  ProxySettings s;
  s.hello_timeout = std::chrono::milliseconds(c.tls.client_hello_timeout_ms);
  s.connect_timeout = std::chrono::milliseconds(c.tls.connect_timeout_ms);
  s.idle_timeout = std::chrono::seconds(c.tls.idle_timeout_s);
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

Session::Session(std::shared_ptr<ProxyState> state, tcp::socket client, ListenPort port, uint64_t id)
    : state_(std::move(state)),
      client_(std::move(client)),
      upstream_(state_->io),
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
  state_->watch(Deadline::hello, weak_from_this(), 0);
  read_first_bytes();
}

bool Session::waiting_for(Deadline kind, uint64_t token) const {
  if (stopped_) return false;
  return kind == Deadline::hello ? reading_ : connecting_ && token == next_candidate_;
}

void Session::deadline_passed(Deadline kind, uint64_t) {
  boost::system::error_code ignored;
  if (kind == Deadline::hello) {
    timed_out_ = true;
    client_.cancel(ignored);
  } else {
    upstream_.cancel(ignored);  // the connect handler tries the next address
  }
}

void Session::stop() {
  stopped_ = true;
  if (relay_ && relay_->running()) return relay_->stop();
  reset_socket(client_);
  reset_socket(upstream_);
}

void Session::read_first_bytes() {
  client_.async_read_some(asio::buffer(buffer_.get() + filled_, capacity_ - filled_),
                          [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                            if (self->stopped_) return;
                            if (self->timed_out_) return self->refuse(Refusal::hello_timeout);
                            if (ec == asio::error::eof) return self->first_bytes_complete(true);
                            if (ec) return self->refuse(Refusal::closed_early);
                            self->filled_ += n;
                            self->first_bytes_complete(false);
                          });
}

// Parse what has arrived; read more while it is a valid prefix, else decide.
void Session::first_bytes_complete(bool closed) {
  Decision d;
  if (port_ == ListenPort::https) {
    ClientHello hello = parse_client_hello(std::span<const uint8_t>(buffer_.get(), filled_));
    if (hello.status == HelloStatus::need_more && !closed) return read_first_bytes();
    if (hello.status == HelloStatus::malformed)
      state_->refusal_log.info(peer_text(client_), ": malformed ClientHello: ", hello.error);
    d = decide_tls(*state_->policy, hello, state_->wss != nullptr);
    if (d.refusal == Refusal::non_vendor_sni || d.refusal == Refusal::invalid_sni)
      state_->refusal_log.info(peer_text(client_), ": SNI '", hello.sni.value_or(""), "' is not a vendor name");
  } else {
    HttpHead head = parse_http_head(std::string_view(reinterpret_cast<const char*>(buffer_.get()), filled_));
    if (head.status == HttpHeadStatus::need_more && !closed) return read_first_bytes();
    d = decide_http(*state_->policy, head);
    target_ = head.target.empty() || head.target.front() != '/' ? "/" : head.target;
    if (d.refusal == Refusal::non_vendor_host)
      state_->refusal_log.info(peer_text(client_), ": Host '", head.host.value_or(""), "' is not a vendor name");
  }
  reading_ = false;
  act(d);  // what was read stays in buffer_ for the replay
}

void Session::act(const Decision& d) {
  decision_ = d;
  switch (d.action) {
    case Action::reset:
      return refuse(*d.refusal);
    case Action::wss_handoff:
      state_->stats.wss_handed_over.inc();
      return state_->wss->accept(std::move(client_), std::vector<uint8_t>(buffer_.get(), buffer_.get() + filled_));
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
  reading_ = false;
  decision_.action = Action::reset;
  decision_.refusal = r;
  state_->refuse_count(r);
  reset_socket(client_);
  reset_socket(upstream_);
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
  tcp::endpoint target(candidates_[next_candidate_++], upstream_port_);
  boost::system::error_code ec;
  if (upstream_.is_open()) upstream_.close(ec);
  upstream_.open(target.protocol(), ec);
  if (ec) return refuse(Refusal::connect_failed);
  // connect(2) by hand and wait for writability: Asio's async_connect adds a poll(2) per
  // connection before its getsockopt(SO_ERROR).
  upstream_.native_non_blocking(true, ec);
  if (ec) return refuse(Refusal::connect_failed);
  boost::system::error_code immediate;
  if (::connect(upstream_.native_handle(), target.data(), socklen_t(target.size())) != 0 && errno != EINPROGRESS)
    immediate.assign(errno, boost::system::system_category());
  connecting_ = true;
  state_->watch(Deadline::connect, weak_from_this(), next_candidate_);
  auto done = [self = shared_from_this(), target](boost::system::error_code e) {
    self->connecting_ = false;
    if (self->stopped_) return;
    if (!e) {
      int error = 0;
      socklen_t len = sizeof error;
      if (::getsockopt(self->upstream_.native_handle(), SOL_SOCKET, SO_ERROR, &error, &len) != 0) error = errno;
      if (error) e.assign(error, boost::system::system_category());
    }
    if (e) {
      self->state_->refusal_log.info("connect to ", Endpoint{target.address(), target.port()}.to_string(),
                                     " failed: ", e == asio::error::operation_aborted ? "timeout" : e.message());
      if (self->next_candidate_ < self->candidates_.size()) self->state_->stats.connect_retries.inc();
      return self->connect_next();
    }
    self->replay();
  };
  if (immediate) return asio::post(state_->io, [done, immediate] { done(immediate); });
  upstream_.async_wait(tcp::socket::wait_write, std::move(done));
}

void Session::replay() {
  tune(upstream_);
  asio::async_write(upstream_, asio::buffer(buffer_.get(), filled_),
                    [self = shared_from_this()](boost::system::error_code ec, size_t) {
                      if (self->stopped_) return;
                      if (ec) return self->refuse(Refusal::connect_failed);
                      self->start_relay();
                    });
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
  };
  relay_.emplace(client_, upstream_, state_->settings.relay, state_->settings.idle_timeout, std::move(hooks),
                 weak_from_this(), state_->buffers);
  relay_->start();
}

void Session::redirect() {
  state_->stats.redirected.inc();
  auto reply = std::make_shared<std::string>("HTTP/1.1 308 Permanent Redirect\r\nLocation: https://" +
                                             decision_.host + target_ +
                                             "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  asio::async_write(client_, asio::buffer(*reply), [self = shared_from_this(), reply](boost::system::error_code, size_t) {
    boost::system::error_code ec;
    self->client_.shutdown(tcp::socket::shutdown_send, ec);
    self->client_.close(ec);
  });
}

}  // namespace outpost::dataplane
