#pragma once
// SIP over secure WebSocket (RFC 7118) on the LAN side: browsers' agents (JsSIP, SIP.js)
// connect to wss://<vendor.wss_fqdn>/ on port 443, which the TLS passthrough shares: it
// reads the ClientHello, sees the WSS name and hands the socket over (WssAcceptor) with
// the bytes it already read. Here TLS is terminated (Boost.Asio ssl, the certificate of
// tls.wss_certificate), the HTTP upgrade must offer the "sip" subprotocol, and each
// WebSocket message is one SIP message, delivered to the proxy as a Flow with
// Transport::wss and the connection's id. Requests to a device go back over its own
// connection (browsers put `.invalid` hosts in Via and Contact): outpost never opens one.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/tls.h"
#include "sipalg/flow.h"

namespace outpost::sip {

class Transports;
struct PeerName;

// Whether a Sec-WebSocket-Protocol value (a comma-separated token list) offers "sip".
bool offers_sip_subprotocol(std::string_view header);

// What one WebSocket message carries. RFC 7118 §5: exactly one SIP message per WebSocket
// message, no Content-Length framing needed. Some agents send CRLF keep-alives as their
// own messages (RFC 5626 style); those carry nothing for the proxy.
enum class WsPayload { sip_message, keepalive, oversize };
WsPayload classify_ws_payload(std::string_view payload, size_t max_bytes);

// One browser's WebSocket connection: TLS handshake on the handed-over socket (the bytes
// the passthrough read go first), HTTP upgrade, then messages both ways.
class WsConnection : public std::enable_shared_from_this<WsConnection> {
 public:
  WsConnection(Transports& owner, boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& context,
               std::vector<uint8_t> first_bytes, Side side, uint64_t id);

  // A connection outpost opens to the vendor's WebSocket server (RFC 7118 over TLS).
  WsConnection(Transports& owner, boost::asio::io_context& io, boost::asio::ssl::context& context, Side side,
               uint64_t id);

  void start();
  // The client side: TCP connect from (`bind`, `source_port`: see Transports::enable_uplink_tls),
  // TLS handshake (SNI and certificate check on `name`), then the upgrade asking for "sip".
  // Returns the port bound (0: an ephemeral one, or none when it failed at once).
  uint16_t connect(const boost::asio::ip::tcp::endpoint& to, const IpAddress& bind, uint16_t source_port,
                   std::optional<PeerName> name, bool verify, uint64_t* failures);
  void send(std::string bytes);
  void close();
  // Closed by the Transports' sweep (a deadline passed; counted by the caller).
  void end(const std::string& why) { fail(why); }

  uint64_t id() const { return id_; }
  Side side() const { return side_; }
  const Endpoint& peer() const { return peer_; }
  bool open() const;
  bool accepted() const { return !outgoing_; }  // a browser opened it
  // TLS handshake and WebSocket upgrade done.
  bool established() const { return connected_; }
  std::chrono::steady_clock::time_point opened() const { return opened_; }
  std::chrono::steady_clock::time_point last_activity() const { return last_activity_; }

 private:
  using TlsStream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;
  Flow flow() const { return Flow{side_, Transport::wss, peer_, id_, 0}; }
  // Connections outpost opens: TLS handshake and upgrade within kHandshakeTimeout (accepted
  // ones have the Transports' sweep and sip.tls_handshake_timeout).
  void arm_handshake_deadline();
  void touch() { last_activity_ = std::chrono::steady_clock::now(); }
  void read_upgrade();
  void refuse(const std::string& why);
  void read();
  void flush();
  void fail(const std::string& why);

  Transports& owner_;
  std::weak_ptr<bool> alive_;
  boost::beast::websocket::stream<TlsStream> ws_;
  boost::asio::steady_timer handshake_deadline_;
  std::vector<uint8_t> first_bytes_;
  boost::beast::flat_buffer buffer_;
  boost::beast::http::request<boost::beast::http::string_body> upgrade_;
  Side side_;
  uint64_t id_;
  Endpoint peer_;
  bool connected_ = false, writing_ = false;
  bool outgoing_ = false;  // opened by outpost (to the vendor)
  bool ended_ = false;         // fail() ran: late completions must not count again
  std::chrono::steady_clock::time_point opened_ = std::chrono::steady_clock::now(), last_activity_ = opened_;
  std::deque<std::string> queue_;
};

// The TLS passthrough's hand-over point for vendor.wss_fqdn. Made with the SIP component
// (so the daemon can give it to the passthrough before anything starts); it passes
// sockets to the Transports while they are attached (the component running with a WSS
// certificate) and closes them otherwise.
class WssAcceptor final : public dataplane::WssHandler {
 public:
  void attach(Transports* transports) { transports_ = transports; }
  void accept(boost::asio::ip::tcp::socket socket, std::vector<uint8_t> first_bytes) override;
  uint64_t refused() const { return refused_; }

 private:
  Transports* transports_ = nullptr;
  uint64_t refused_ = 0;
};

}  // namespace outpost::sip
