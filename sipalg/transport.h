#pragma once
// receive / send: outpost's SIP sockets on both sides, on the daemon's io_context.
// UDP: one socket per side. TCP: a listener per side and connections (accepted or
// opened by outpost), each with an id that travels in Flow so that responses and
// requests to a device go back over the connection it used. Stream framing and CRLF
// keep-alives are handled here (framing.h); whole messages go to the handler. What LAN
// peers may hold open (connection limits, handshake and idle timeouts) is decided by
// connection_limits.h and enforced here: at accept, and by one sweep timer.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "common/result.h"
#include "sipalg/connection_limits.h"
#include "sipalg/flow.h"

struct ssl_st;

namespace outpost::sip {

class Sender {
 public:
  virtual ~Sender() = default;
  // False when it could not even be queued (no socket, no route, connection refused now).
  virtual bool send(const Flow& to, const std::string& bytes) = 0;
};

// Who a vendor server is, for a TLS or WSS connection outpost opens to it: the name its
// certificate must carry (also the SNI and the WebSocket Host) and the WebSocket path.
struct PeerName {
  std::string host;
  std::string path = "/";
};
using PeerNameLookup = std::function<std::optional<PeerName>(const IpAddress&)>;

// For the connections outpost opens (TCP, TLS, WSS). bind_client: bound to `bind` and,
// where the kernel allows, to `port` shared with outpost's other connections
// (SO_REUSEPORT); returns the port used (0: ephemeral). prepare_client_tls: SNI and the
// certificate check for a connection to `peer` (on `name` if given, else its address).
Result<uint16_t> bind_client(boost::asio::ip::tcp::socket& socket, const boost::asio::ip::tcp::endpoint& to,
                             const IpAddress& bind, uint16_t port);
bool prepare_client_tls(ssl_st* ssl, const std::optional<PeerName>& name, const IpAddress& peer, bool verify);

using MessageHandler = std::function<void(const Flow& from, std::string_view bytes)>;
using DropHandler = std::function<void(Side side, const char* reason)>;

class TcpConnection;
class WsConnection;

class Transports final : public Sender {
 public:
  Transports(boost::asio::io_context& io, Logger log, size_t max_message_bytes, MessageHandler on_message,
             DropHandler on_drop);
  ~Transports() override;

  // Opens UDP and TCP on `at` for `side` (port 0 for TCP skips it).
  Result<void> open(Side side, const IpAddress& address, uint16_t udp_port, uint16_t tcp_port);
  // An extra LAN port (UDP and TCP, the profile's sip_extra_ports): what arrives there
  // carries Flow::local_port, and what goes back to that flow leaves from it.
  Result<void> open_extra(Side side, const IpAddress& address, uint16_t port);
  // A SIP over TLS listener (LAN side): TLS 1.2 or newer, certificate chain and key in PEM.
  Result<void> open_tls(Side side, const IpAddress& address, uint16_t port, const std::string& certificate,
                        const std::string& key);
  // SIP over WSS (RFC 7118, ws_transport.h) on connections the TLS passthrough hands over
  // (port: the passthrough's, for `show sip`): TLS 1.2 or newer, certificate chain and key
  // in PEM.
  Result<void> enable_wss(Side side, uint16_t port, const std::string& certificate, const std::string& key);
  // TLS and WSS connections to the vendor (opened when a message goes to a vendor flow
  // with either transport): the certificate is checked against `ca_file` (PEM; "" = the
  // system's store) and the name `names` gives for the server's address (its IP address
  // when none), unless !verify. Each is bound to the uplink address and `source_port`
  // (SO_REUSEPORT, like Kamailio's tcp_reuse_port) so that the vendor's requests to
  // outpost's Via/Record-Route/Contact find the open connection; an ephemeral port when
  // that port cannot be had.
  Result<void> enable_uplink_tls(const std::string& ca_file, bool verify, uint16_t source_port, PeerNameLookup names);
  // A handed-over connection (the bytes already read go to TLS first). False when WSS is
  // not enabled (the socket is closed).
  bool accept_wss(boost::asio::ip::tcp::socket socket, std::vector<uint8_t> first_bytes);
  // Called (posted, never from inside send()) when a connection outpost opened could not
  // be established (refused, no route, TLS handshake or WebSocket upgrade failed): what was
  // queued for `to` is lost, so the proxy can try the next server at once.
  void on_unreachable(std::function<void(const Flow& to)> handler) { on_unreachable_ = std::move(handler); }
  // Limits and timeouts for LAN stream connections (connection_limits.h); may change at
  // any time (reload): new limits apply to the next accept, new timeouts at the next sweep.
  void set_limits(const ConnectionLimits& limits) { admission_.configure(limits); }
  void close();
  bool send(const Flow& to, const std::string& bytes) override;
  // The local address the kernel would use towards `peer` (for Via on an unbound uplink).
  nlohmann::json status() const;
  // Accepted LAN connections against their limits, and the timeouts (`show sip` "connections").
  nlohmann::json connection_status() const;
  uint16_t udp_port(Side side) const;

  // Called by connections.
  void deliver(const Flow& from, std::string_view bytes) {
    ++(from.transport == Transport::tls   ? tls_messages_
       : from.transport == Transport::wss ? wss_messages_
                                          : tcp_messages_)[from.side == Side::lan ? 0 : 1];
    on_message_(from, bytes);
  }
  void dropped(Side side, const char* reason) { on_drop_(side, reason); }
  void forget(uint64_t id) {
    connections_.erase(id);
    release(id);
  }
  void forget_ws(uint64_t id) {
    ws_connections_.erase(id);
    release(id);
  }
  void ws_handshake_failed(Side side, const char* reason);
  void unreachable(const Flow& to, const std::string& why);

 private:
  struct UdpSide;
  struct TcpSide;
  struct TlsSide;
  struct WssSide;
  struct UplinkTls;
  void receive(UdpSide& u);         // waits until the socket is readable
  void read_datagrams(UdpSide& u);  // one recvmmsg(2) batch, handled in order
  void accept(TcpSide& t);
  std::shared_ptr<TcpConnection> connection_to(const Flow& to);
  std::shared_ptr<WsConnection> ws_connection_to(const Flow& to);
  // An accepted LAN connection within the limits is counted under `id`; one over them is
  // counted as a drop and the caller closes it. Vendor-side accepts are not limited.
  bool admit(Side side, const boost::asio::ip::tcp::socket& socket, uint64_t id);
  void release(uint64_t id);
  void arm_sweep();  // once a listener is open
  void sweep();      // closes connections past their handshake or idle deadline

  boost::asio::io_context& io_;
  Logger log_;
  RateLimitedLog noisy_;
  size_t max_bytes_;
  MessageHandler on_message_;
  DropHandler on_drop_;
  std::function<void(const Flow&)> on_unreachable_;
  std::map<Side, std::unique_ptr<UdpSide>> udp_;
  std::map<Side, std::unique_ptr<TcpSide>> tcp_;
  std::map<Side, std::unique_ptr<TlsSide>> tls_;
  std::map<uint16_t, std::unique_ptr<UdpSide>> extra_udp_;  // LAN side, by port
  std::map<uint16_t, std::unique_ptr<TcpSide>> extra_tcp_;
  void accept_tls(TlsSide& t);
  std::map<uint64_t, std::shared_ptr<TcpConnection>> connections_;
  std::unique_ptr<WssSide> wss_;
  std::unique_ptr<UplinkTls> uplink_tls_;
  std::map<uint64_t, std::shared_ptr<WsConnection>> ws_connections_;
  ConnectionAdmission admission_;
  std::map<uint64_t, IpAddress> admitted_;  // accepted LAN connections (by id) and their source
  boost::asio::steady_timer sweep_timer_;
  bool sweeping_ = false;
  IpAddress bind_address_[2];
  uint64_t next_id_ = 1;
  uint64_t send_errors_ = 0;
  uint64_t tcp_messages_[2] = {0, 0};
  uint64_t tls_messages_[2] = {0, 0};
  uint64_t wss_messages_[2] = {0, 0};
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

  friend class TcpConnection;
  friend class WsConnection;
};

}  // namespace outpost::sip
