#pragma once
// One LAN connection on the HTTPS or HTTP port, from accept to close:
//   read the first bytes (deadline) -> parse (ClientHello / request head) -> decide ->
//   resolve the vendor name over the uplink -> connect (next address on failure) ->
//   replay what was read -> relay both ways; or reset / redirect / hand over.
// Counting happens here, at the end of each step, into the shared ProxyState.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/log.h"
#include "dataplane/client_limiter.h"
#include "dataplane/decision.h"
#include "dataplane/fd_poller.h"
#include "dataplane/relay.h"
#include "dataplane/stats.h"
#include "dataplane/tls.h"

namespace outpost::dataplane {

class Session;

// Delayed ACKs from the first segment on (TCP_QUICKACK off puts the socket in the kernel's
// "ping-pong" mode): what a side sends is answered within a round trip by what outpost
// relays back from the other side, so its ACK rides on that data instead of leaving as a
// segment of its own. On the upstream socket, set before connect(2), the handshake's last
// ACK also rides on the ClientHello (HAProxy's tcp-smart-connect); on the listener, accepted
// sockets inherit the mode. Each segment not sent saves its transmit and, over veth/loopback,
// the peer's receive processing, which runs in the sender's context. The kernel leaves the
// mode by itself when a delayed ACK times out (one-way transfers), so bulk and idle
// connections are not slowed. Best effort: a socket that refuses it works as before.
void delay_acks(int fd);

struct ProxySettings {
  std::chrono::milliseconds hello_timeout{5000};
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::seconds idle_timeout{600};
  unsigned max_connections = 4096;
  RelayMode relay = RelayMode::splice;
  // SO_KEEPALIVE on the upstream socket: only when a connection can stay silent long enough
  // for the kernel to probe it (session.cc, from_config).
  bool upstream_keepalive = true;
  std::vector<IpAddress> own_addresses;  // the LAN addresses: a vendor name must never resolve here

  static ProxySettings from_config(const config::Config& config);
};

// Resolved vendor names, kept for their TTL (at most a minute) so a page's many
// connections cost one look-up.
class AddressCache {
 public:
  const std::vector<IpAddress>* find(const std::string& name, std::chrono::steady_clock::time_point now) const;
  void put(const std::string& name, std::vector<IpAddress> addresses, uint32_t ttl_s,
           std::chrono::steady_clock::time_point now);
  size_t size() const { return entries_.size(); }
  void clear() { entries_.clear(); }

 private:
  struct Entry {
    std::vector<IpAddress> addresses;
    std::chrono::steady_clock::time_point expires;
  };
  static constexpr size_t kMaxEntries = 1024;
  std::unordered_map<std::string, Entry> entries_;
};

enum class Deadline { hello, connect };

// What every session shares with the component; sessions hold it alive, so a session that
// outlives a stopped component still finds its counters.
struct ProxyState : std::enable_shared_from_this<ProxyState> {
  ProxyState(boost::asio::io_context& io, Logger log, MetricsRegistry& metrics,
             std::shared_ptr<dns::UplinkResolver> uplink);
  boost::asio::io_context& io;
  Logger log;
  RateLimitedLog refusal_log;
  TlsStats stats;
  TlsRefusalStats refusals;
  NameTable names;
  std::shared_ptr<const RoutingPolicy> policy;
  ProxySettings settings;
  std::shared_ptr<dns::UplinkResolver> uplink;
  std::shared_ptr<WssHandler> wss;
  AddressCache addresses;
  std::shared_ptr<BufferPool> buffers = std::make_shared<BufferPool>();
  FdPoller poller{io};  // every listener and connection socket, registered once (fd_poller.h)
  ClientRateLimiter limiter{50};
  std::unordered_map<uint64_t, std::weak_ptr<Session>> sessions;
  uint64_t next_session = 1;

  void refuse_count(Refusal r);

  // The ClientHello and connect deadlines. Every session has the same timeout of each
  // kind, so each kind is a FIFO swept by one ticking timer: no per-connection timer (each
  // would re-arm the reactor's timerfd whenever it became the earliest).
  void watch(Deadline kind, std::weak_ptr<Session> session, uint64_t token);
  void stop_watching();

 private:
  struct Watched {
    std::chrono::steady_clock::time_point at;
    std::weak_ptr<Session> session;
    uint64_t token;
  };
  void arm_sweeper();
  void sweep();
  std::deque<Watched> watched_[2];
  boost::asio::steady_timer sweeper_{io};
  bool sweeping_ = false;
};

enum class ListenPort { https, http };

// Sockets outside Asio's reactor, in state->poller: the session keeps itself alive (self_)
// while they are open and lets go of itself through the io_context once it is done, so that
// events already taken by the poller still find it.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<ProxyState> state, OwnedFd client, boost::asio::ip::tcp::endpoint peer, ListenPort port,
          uint64_t id);
  ~Session();
  void start();
  // Resets both sides now (daemon shutdown).
  void stop();
  // From ProxyState's sweeper: a deadline of this session has passed (`token` says which
  // connect attempt it was for).
  bool waiting_for(Deadline kind, uint64_t token) const;
  void deadline_passed(Deadline kind, uint64_t token);

 private:
  struct End final : PolledFd {
    End(Session& s, bool up) : session(s), upstream(up) {}
    void on_events(uint32_t events) override { session.on_events(upstream, events); }
    Session& session;
    bool upstream;
  };
  void on_events(bool upstream, uint32_t events);
  void read_first_bytes();
  void first_bytes_complete(bool closed);
  void connected();
  void connect_failed(const std::string& why);
  void send_replay();
  void done();
  void act(const Decision& d);
  void refuse(Refusal r);
  void resolve(const std::string& name, uint16_t qtype);
  void connect_to(std::vector<IpAddress> addresses, uint16_t port);
  void connect_next();
  void replay();
  void start_relay();
  void redirect();
  void name_failed();

  std::shared_ptr<ProxyState> state_;
  std::shared_ptr<Session> self_;  // while the sockets are open
  OwnedFd client_;
  OwnedFd upstream_;
  boost::asio::ip::tcp::endpoint peer_;
  End client_end_{*this, false}, upstream_end_{*this, true};
  Readiness client_ready_, upstream_ready_;
  boost::asio::ip::tcp::endpoint target_endpoint_;  // the address being connected to
  size_t replayed_ = 0;
  bool replaying_ = false;
  ListenPort port_;
  uint64_t id_;
  std::unique_ptr<uint8_t[]> buffer_;   // the first bytes, until replayed
  size_t capacity_ = 0;
  size_t filled_ = 0;
  bool reading_ = true;  // the first bytes are still arriving (the hello deadline runs)
  bool timed_out_ = false;
  bool connecting_ = false;
  Decision decision_;
  std::string target_;                    // for a redirect: the request target
  NameTable::Entry* name_ = nullptr;       // the vendor name's row, once decided
  std::vector<IpAddress> candidates_;
  size_t next_candidate_ = 0;
  uint16_t upstream_port_ = 0;
  std::optional<Relay> relay_;
  bool stopped_ = false;
};

}  // namespace outpost::dataplane
