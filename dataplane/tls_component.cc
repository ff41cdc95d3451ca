// The TLS passthrough component: listeners on the LAN address, the admission limits
// (max_connections, lan.client_subnets, per_client_rate), `show tls` and the metrics.
// Each admitted connection becomes a Session (session.h), which does the rest.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>

#include "dataplane/session.h"
#include "dataplane/tls.h"

namespace outpost::dataplane {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

uint64_t now_ms() {
  return uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count());
}

// One listening socket, in the poller (edge-triggered) for its life: each wakeup accepts
// with accept4(2) until the queue is empty, the new socket already non-blocking.
class Listener : public std::enable_shared_from_this<Listener>, private PolledFd {
 public:
  using OnAccept = std::function<void(OwnedFd, const tcp::endpoint&, ListenPort)>;
  static Result<std::shared_ptr<Listener>> open(FdPoller& poller, asio::io_context& io, tcp::endpoint at,
                                                ListenPort port, OnAccept on_accept, Logger log) {
    auto l = std::shared_ptr<Listener>(new Listener(poller, io, at, port, std::move(on_accept), std::move(log)));
    auto fail = [&](const char* what) {
      return make_error("tls: cannot listen on " + l->key() + ": " + what + ": " + std::strerror(errno));
    };
    l->fd_ = OwnedFd(::socket(at.protocol().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    const int fd = l->fd_.get(), on = 1;
    if (fd < 0) return fail("socket");
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (::bind(fd, at.data(), socklen_t(at.size())) != 0) return fail("bind");
    if (::listen(fd, SOMAXCONN) != 0) return fail("listen");
    // Linux copies these two from the listening socket to every accepted one: set once
    // here, they cost no system call per connection.
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    // A connection is handed to accept(2) only once its first bytes (ClientHello, request
    // head) have arrived, so the session reads them at once: no wakeup for the bare
    // handshake and one epoll round less per connection. A client that stays silent waits
    // in the kernel's SYN queue (no descriptor, no session, not counted in max_connections)
    // and is accepted without data after one SYN-ACK retransmission (~1 s, the value is
    // rounded to retransmissions); the ClientHello deadline runs from then, so a silent
    // slowloris is reset about a second later than without the deferral, one that sends a
    // partial hello exactly as before. Best effort: without it sessions still work.
    const int defer_s = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_s, sizeof defer_s);
    // Accepted sockets start with delayed ACKs too (the kernel copies the mode): the
    // client's records are acknowledged by the server's answer relayed back.
    delay_acks(fd);
    return l;
  }
  void start() {
    if (!poller_.add(fd_.get(), EPOLLIN | EPOLLET, *this)) log_.warn("cannot poll ", key());
    self_ = shared_from_this();  // until close(): the poller holds a reference to it
  }
  void close() {
    fd_.close();
    retry_.cancel();
    if (self_) asio::post(io_, [s = std::move(self_)] {});
  }
  std::string key() const { return Endpoint{at_.address(), at_.port()}.to_string(); }
  Json status() const { return {{"address", key()}, {"kind", port_ == ListenPort::https ? "https" : "http"}}; }

 private:
  Listener(FdPoller& poller, asio::io_context& io, tcp::endpoint at, ListenPort port, OnAccept on_accept, Logger log)
      : poller_(poller), io_(io), retry_(io), at_(at), port_(port), on_accept_(std::move(on_accept)), log_(std::move(log)) {}

  void on_events(uint32_t) override { accept_all(); }

  void accept_all() {
    for (int i = 0; i < kAcceptsPerTurn; ++i) {
      if (!fd_.is_open()) return;
      tcp::endpoint peer;  // filled by accept4(2), saving a getpeername(2)
      socklen_t len = socklen_t(peer.capacity());
      int s = ::accept4(fd_.get(), peer.data(), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (s < 0) {
        if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) {
          if (errno == EAGAIN) return;  // drained: the next connection is a new edge
          continue;
        }
        // Out of descriptors and the like: wait a little rather than spin (edge-triggered:
        // nothing else would come back to the queue).
        log_.warn("accept on ", key(), ": ", std::strerror(errno));
        retry_.expires_after(std::chrono::milliseconds(100));
        retry_.async_wait([self = shared_from_this()](boost::system::error_code e) {
          if (!e) self->accept_all();
        });
        return;
      }
      peer.resize(len);
      on_accept_(OwnedFd(s), peer, port_);
    }
    asio::post(io_, [self = shared_from_this()] { self->accept_all(); });  // others run first
  }

  static constexpr int kAcceptsPerTurn = 32;
  FdPoller& poller_;
  asio::io_context& io_;
  OwnedFd fd_;
  asio::steady_timer retry_;
  tcp::endpoint at_;
  ListenPort port_;
  OnAccept on_accept_;
  Logger log_;
  std::shared_ptr<Listener> self_;
};

class TlsComponent final : public TlsPassthrough {
 public:
  TlsComponent(const ComponentContext& context, const config::Config& config,
               std::shared_ptr<dns::UplinkResolver> uplink)
      : context_(context),
        config_(config),
        state_(std::make_shared<ProxyState>(context.io, Logger(context.log_sink, "tls"), context.metrics,
                                            std::move(uplink))) {}
  ~TlsComponent() override { stop(); }

  std::string_view name() const override { return "tls"; }

  Result<void> start() override {
    if (auto r = apply(config_); !r) return r;
    std::vector<std::shared_ptr<Listener>> opened;
    if (auto r = open_listeners(config_, opened); !r) return r;
    listeners_ = std::move(opened);
    for (auto& l : listeners_) l->start();
    commands_.push_back(context_.control.add("show tls",
                                             "TLS passthrough: connections and bytes by vendor name, refusals by "
                                             "reason, limits, listeners",
                                             [this](const Json&) { return ControlReply::success(show()); }));
    gauges_.push_back(context_.metrics.gauge_callback("outpost_tls_active_connections",
                                                      "connections open on the TLS passthrough", {},
                                                      [s = state_] { return double(s->sessions.size()); }));
    state_->log.notice("passing TLS through on ", listen_text(), " for ", state_->policy->vendor_names.patterns().size(),
                       " vendor name patterns; relay ", config_.tls.relay, "; uplink resolver ",
                       state_->uplink ? "ready" : "missing");
    return {};
  }

  Result<void> reload(const config::Config& next) override {
    auto policy = RoutingPolicy::from_config(next);
    if (!policy) return policy.error();
    std::vector<std::shared_ptr<Listener>> kept, opened;
    if (auto r = open_listeners(next, opened, &kept); !r) return r;
    for (auto& l : listeners_)
      if (std::find(kept.begin(), kept.end(), l) == kept.end()) l->close();
    for (auto& l : opened) l->start();
    kept.insert(kept.end(), opened.begin(), opened.end());
    listeners_ = std::move(kept);
    config_ = next;
    (void)apply(next);
    state_->addresses.clear();  // vendor.resolvers may have changed
    state_->log.notice("reloaded: listening on ", listen_text());
    return {};
  }

  void stop() override {
    for (auto& l : listeners_) l->close();
    listeners_.clear();
    commands_.clear();
    gauges_.clear();
    std::vector<std::shared_ptr<Session>> live;
    for (auto& [id, weak] : state_->sessions)
      if (auto s = weak.lock()) live.push_back(s);
    for (auto& s : live) s->stop();
    state_->stop_watching();
    state_->poller.stop();
  }

  Json status() const override {
    return {{"state", listeners_.empty() ? "stopped" : "running"},
            {"listen", listen_text()},
            {"active", state_->sessions.size()},
            {"passed_through", state_->stats.passed_through.value()},
            {"refused", state_->stats.refused.value()}};
  }

  void set_wss_handler(std::shared_ptr<WssHandler> handler) override { state_->wss = std::move(handler); }

 private:
  Result<void> apply(const config::Config& c) {
    auto policy = RoutingPolicy::from_config(c);
    if (!policy) return policy.error();
    state_->policy = std::make_shared<const RoutingPolicy>(std::move(*policy));
    state_->settings = ProxySettings::from_config(c);
    if (state_->limiter.per_second() != c.tls.per_client_rate) state_->limiter = ClientRateLimiter(c.tls.per_client_rate);
    return {};
  }

  Result<void> open_listeners(const config::Config& c, std::vector<std::shared_ptr<Listener>>& opened,
                              std::vector<std::shared_ptr<Listener>>* kept = nullptr) {
    if (!c.tls.enabled) return {};
    std::vector<IpAddress> addresses{c.lan.address.address};
    if (c.lan.address6) addresses.push_back(c.lan.address6->address);
    std::vector<std::pair<uint16_t, ListenPort>> ports{{c.tls.https_port, ListenPort::https}};
    if (c.tls.http_port) ports.push_back({c.tls.http_port, ListenPort::http});
    for (const auto& a : addresses)
      for (auto [port, kind] : ports) {
        std::string key = Endpoint{a, port}.to_string();
        if (kept) {
          auto it = std::find_if(listeners_.begin(), listeners_.end(), [&](auto& l) { return l->key() == key; });
          if (it != listeners_.end()) {
            kept->push_back(*it);
            continue;
          }
        }
        auto l = Listener::open(
            state_->poller, context_.io, tcp::endpoint(a, port), kind,
            [this](OwnedFd s, const tcp::endpoint& peer, ListenPort k) { admit(std::move(s), peer, k); }, state_->log);
        if (!l) {
          for (auto& o : opened) o->close();
          opened.clear();
          return l.error();
        }
        opened.push_back(*l);
      }
    return {};
  }

  // The limits, before any byte is read: each refusal is a reset and a counter.
  void admit(OwnedFd socket, const tcp::endpoint& peer, ListenPort port) {
    auto& s = *state_;
    s.stats.accepted.inc();
    std::optional<Refusal> refusal;
    if (s.sessions.size() >= s.settings.max_connections) refusal = Refusal::max_connections;
    else if (!client_allowed(peer.address())) refusal = Refusal::not_client;
    else if (!s.limiter.admit(peer.address(), now_ms())) refusal = Refusal::rate_limited;
    if (refusal) {
      s.refuse_count(*refusal);
      socket.reset();
      return;
    }
    uint64_t id = s.next_session++;
    auto session = std::make_shared<Session>(state_, std::move(socket), peer, port, id);
    s.sessions.emplace(id, session);
    session->start();
  }

  bool client_allowed(const IpAddress& a) const {
    const auto& subnets = state_->policy->client_subnets;
    IpAddress addr = a.is_v6() && a.to_v6().is_v4_mapped()
                         ? IpAddress(asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()))
                         : a;
    return subnets.empty() || std::any_of(subnets.begin(), subnets.end(), [&](const Prefix& p) { return p.contains(addr); });
  }

  std::string listen_text() const {
    std::string out;
    for (const auto& l : listeners_) out += (out.empty() ? "" : ", ") + l->key();
    return out.empty() ? "nothing" : out;
  }

  Json show() const {
    const auto& s = *state_;
    const auto& t = config_.tls;
    Json listeners = Json::array();
    for (const auto& l : listeners_) listeners.push_back(l->status());
    Json names = s.names.to_json();
    return {
        {"listeners", listeners},
        {"relay", t.relay},
        {"active", s.sessions.size()},
        {"http_policy", t.http_policy},
        {"default_host", s.policy->default_host.empty() ? Json(nullptr) : Json(s.policy->default_host)},
        {"turn", s.policy->turn ? Json(s.policy->turn->to_string()) : Json(nullptr)},
        {"wss",
         {{"name", s.policy->wss_fqdn.empty() ? Json(nullptr) : Json(s.policy->wss_fqdn)},
          {"handler", s.wss ? "SIP WebSocket transport" : "none: passed through like any vendor name"}}},
        {"limits",
         {{"max_connections", t.max_connections},
          {"per_client_rate", t.per_client_rate},
          {"client_hello_timeout_ms", t.client_hello_timeout_ms},
          {"connect_timeout_ms", t.connect_timeout_ms},
          {"idle_timeout_s", t.idle_timeout_s}}},
        {"resolver", {{"uplink", s.uplink != nullptr}, {"cached_names", s.addresses.size()}}},
        {"vendor_patterns", s.policy->vendor_names.patterns()},
        {"counters", s.stats.to_json()},
        {"errors", s.refusals.to_json()},
        {"names", names},
    };
  }

  ComponentContext context_;
  config::Config config_;
  std::shared_ptr<ProxyState> state_;
  std::vector<std::shared_ptr<Listener>> listeners_;
  std::vector<ControlRegistration> commands_;
  std::vector<GaugeCallbackHandle> gauges_;
};

}  // namespace

std::unique_ptr<TlsPassthrough> make_tls_component(const ComponentContext& context, const config::Config& config,
                                                   std::shared_ptr<dns::UplinkResolver> uplink) {
  return std::make_unique<TlsComponent>(context, config, std::move(uplink));
}

}  // namespace outpost::dataplane
