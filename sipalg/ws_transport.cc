#include "sipalg/ws_transport.h"

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/buffers_to_string.hpp>

#include "sipalg/transport.h"

namespace outpost::sip {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {
// A connection outpost opens to the vendor: connect, TLS handshake and upgrade. (Accepted
// ones: sip.tls_handshake_timeout, enforced by the Transports' sweep.)
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
}  // namespace

bool offers_sip_subprotocol(std::string_view header) {
  while (!header.empty()) {
    size_t comma = header.find(',');
    std::string_view token = header.substr(0, comma);
    while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) token.remove_prefix(1);
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
    if (token == "sip") return true;  // subprotocol names compare exactly (RFC 6455 §4.1)
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
}

WsPayload classify_ws_payload(std::string_view payload, size_t max_bytes) {
  if (payload.size() > max_bytes) return WsPayload::oversize;
  if (payload.find_first_not_of("\r\n") == std::string_view::npos) return WsPayload::keepalive;
  return WsPayload::sip_message;
}

WsConnection::WsConnection(Transports& owner, tcp::socket socket, asio::ssl::context& context,
                           std::vector<uint8_t> first_bytes, Side side, uint64_t id)
    : owner_(owner),
      alive_(owner.alive_),
      ws_(std::move(socket), context),
      handshake_deadline_(ws_.get_executor()),
      first_bytes_(std::move(first_bytes)),
      side_(side),
      id_(id) {}

WsConnection::WsConnection(Transports& owner, asio::io_context& io, asio::ssl::context& context, Side side, uint64_t id)
    : owner_(owner), alive_(owner.alive_), ws_(io, context), handshake_deadline_(io), side_(side), id_(id) {}

void WsConnection::arm_handshake_deadline() {
  handshake_deadline_.expires_after(kHandshakeTimeout);
  handshake_deadline_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec && !self->connected_) self->fail("handshake timeout");
  });
}

uint16_t WsConnection::connect(const tcp::endpoint& to, const IpAddress& bind, uint16_t source_port,
                           std::optional<PeerName> name, bool verify, uint64_t* failures) {
  peer_ = Endpoint{to.address(), to.port()};
  outgoing_ = true;
  auto& socket = beast::get_lowest_layer(ws_);
  auto bound = bind_client(socket, to, bind, source_port);
  if (!bound) return fail("connect: " + bound.error().message), 0;
  if (!prepare_client_tls(ws_.next_layer().native_handle(), name, to.address(), verify)) return fail("TLS setup"), 0;
  // RFC 6455 4.1: Host is the server's name (its address when the profile names none).
  std::string host = name ? name->host : to.address().to_string();
  if (to.port() != 443) host += ":" + std::to_string(to.port());
  std::string path = name ? name->path : "/";
  arm_handshake_deadline();
  auto upgrade_failed = [failures](const std::shared_ptr<WsConnection>& self, const char* reason, const std::string& why) {
    if (self->alive_.lock()) {
      if (failures) ++*failures;
      self->owner_.dropped(self->side_, reason);
    }
    self->fail(why);
  };
  socket.async_connect(to, [self = shared_from_this(), host, path, upgrade_failed](boost::system::error_code ec) {
    if (ec) return self->fail("connect: " + ec.message());
    self->ws_.next_layer().async_handshake(
        asio::ssl::stream_base::client, [self, host, path, upgrade_failed](boost::system::error_code ec) {
          if (ec) return upgrade_failed(self, "tls_handshake", "TLS handshake: " + ec.message());
          auto& ws = self->ws_;
          ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
          ws.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
            req.set(http::field::sec_websocket_protocol, "sip");
            req.set(http::field::user_agent, "outpost");
          }));
          ws.read_message_max(self->owner_.max_bytes_);
          auto response = std::make_shared<websocket::response_type>();
          ws.async_handshake(*response, host, path, [self, response, upgrade_failed](boost::system::error_code ec) {
            if (ec) return upgrade_failed(self, "ws_handshake", "WebSocket upgrade: " + ec.message());
            // RFC 7118 §4.1: the server must have chosen "sip", else this is not SIP's WebSocket.
            if ((*response)[http::field::sec_websocket_protocol] != "sip")
              return upgrade_failed(self, "ws_handshake", "the server did not accept the \"sip\" subprotocol");
            self->connected_ = true;
            self->handshake_deadline_.cancel();
            self->touch();
            self->read();
            self->flush();
          });
        });
  });
  return *bound;
}

bool WsConnection::open() const { return beast::get_lowest_layer(ws_).is_open(); }

void WsConnection::close() {
  boost::system::error_code ec;
  handshake_deadline_.cancel();
  beast::get_lowest_layer(ws_).close(ec);
}

void WsConnection::fail(const std::string& why) {
  ended_ = true;
  if (alive_.lock()) {
    owner_.log_.debug("wss ", peer_.to_string(), ": ", why);
    if (outgoing_ && !connected_) owner_.unreachable(flow(), why);
  }
  outgoing_ = false;
  close();
  if (alive_.lock()) owner_.forget_ws(id_);
}

void WsConnection::start() {
  boost::system::error_code ec;
  auto ep = beast::get_lowest_layer(ws_).remote_endpoint(ec);
  if (!ec) peer_ = Endpoint{ep.address(), ep.port()};
  // The handshake deadline is the Transports' sweep (sip.tls_handshake_timeout, counted).
  // The passthrough already read the ClientHello: the buffered handshake feeds those bytes
  // to OpenSSL before it reads from the socket.
  ws_.next_layer().async_handshake(
      asio::ssl::stream_base::server, asio::buffer(first_bytes_),
      [self = shared_from_this()](boost::system::error_code ec, size_t) {
        if (self->ended_) return;  // closed by the sweep (handshake timeout, counted there)
        if (ec) {
          if (self->alive_.lock()) self->owner_.ws_handshake_failed(self->side_, "tls_handshake");
          return self->fail("TLS handshake: " + ec.message());
        }
        self->first_bytes_.clear();
        self->read_upgrade();
      });
}

void WsConnection::read_upgrade() {
  http::async_read(ws_.next_layer(), buffer_, upgrade_,
                   [self = shared_from_this()](boost::system::error_code ec, size_t) {
                     if (self->ended_) return;  // closed by the sweep (handshake timeout, counted there)
                     if (ec) {
                       if (self->alive_.lock()) self->owner_.ws_handshake_failed(self->side_, "ws_handshake");
                       return self->fail("upgrade request: " + ec.message());
                     }
                     if (!self->alive_.lock()) return;
                     if (!websocket::is_upgrade(self->upgrade_)) return self->refuse("not a WebSocket upgrade");
                     auto offered = self->upgrade_[http::field::sec_websocket_protocol];
                     if (!offers_sip_subprotocol(std::string_view(offered.data(), offered.size())))
                       return self->refuse("no \"sip\" in Sec-WebSocket-Protocol");
                     auto& ws = self->ws_;
                     // No Beast timeouts: the Transports' sweep closes idle LAN connections
                     // (sip.tcp_idle_timeout, both directions, counted) and outpost sends no pings.
                     ws.set_option(websocket::stream_base::timeout{websocket::stream_base::none(),
                                                                   websocket::stream_base::none(), false});
                     // A browser's pings and pongs are traffic too.
                     ws.control_callback([weak = std::weak_ptr<WsConnection>(self)](websocket::frame_type,
                                                                                    beast::string_view) {
                       if (auto c = weak.lock()) c->touch();
                     });
                     ws.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
                       res.set(http::field::sec_websocket_protocol, "sip");
                       res.set(http::field::server, "outpost");
                     }));
                     // Beast refuses bigger messages itself (message_too_big), before buffering them.
                     ws.read_message_max(self->owner_.max_bytes_);
                     ws.async_accept(self->upgrade_, [self](boost::system::error_code ec) {
                       if (self->ended_) return;
                       if (ec) {
                         if (self->alive_.lock()) self->owner_.ws_handshake_failed(self->side_, "ws_handshake");
                         return self->fail("WebSocket accept: " + ec.message());
                       }
                       self->connected_ = true;
                       self->handshake_deadline_.cancel();
                       self->touch();
                       self->upgrade_ = {};
                       self->buffer_.consume(self->buffer_.size());
                       self->read();
                       self->flush();
                     });
                   });
}

void WsConnection::refuse(const std::string& why) {
  owner_.ws_handshake_failed(side_, "ws_handshake");
  auto res = std::make_shared<http::response<http::string_body>>(http::status::bad_request, upgrade_.version());
  res->set(http::field::server, "outpost");
  res->set(http::field::connection, "close");
  res->set(http::field::content_type, "text/plain");
  res->body() = "SIP over WebSocket (RFC 7118): " + why + "\n";
  res->prepare_payload();
  http::async_write(ws_.next_layer(), *res, [self = shared_from_this(), res, why](boost::system::error_code, size_t) {
    self->fail("refused: " + why);
  });
}

void WsConnection::read() {
  ws_.async_read(buffer_, [self = shared_from_this()](boost::system::error_code ec, size_t) {
    if (ec == websocket::error::message_too_big && self->alive_.lock()) self->owner_.dropped(self->side_, "oversize");
    if (ec) return self->fail(ec == websocket::error::closed ? "closed by peer" : ec.message());
    if (!self->alive_.lock()) return;
    self->touch();  // CRLF keep-alive messages count as traffic
    std::string payload = beast::buffers_to_string(self->buffer_.data());
    self->buffer_.consume(self->buffer_.size());
    switch (classify_ws_payload(payload, self->owner_.max_bytes_)) {
      case WsPayload::sip_message: self->owner_.deliver(self->flow(), payload); break;
      case WsPayload::keepalive: break;
      case WsPayload::oversize: self->owner_.dropped(self->side_, "oversize"); break;
    }
    if (self->open()) self->read();
  });
}

void WsConnection::send(std::string bytes) {
  queue_.push_back(std::move(bytes));
  if (connected_) flush();
}

void WsConnection::flush() {
  if (writing_ || queue_.empty() || !open()) return;
  writing_ = true;
  ws_.text(true);  // SIP is text; agents read text and binary messages alike
  ws_.async_write(asio::buffer(queue_.front()), [self = shared_from_this()](boost::system::error_code ec, size_t) {
    self->writing_ = false;
    if (ec) return self->fail("write: " + ec.message());
    self->touch();
    self->queue_.pop_front();
    self->flush();
  });
}

void WssAcceptor::accept(tcp::socket socket, std::vector<uint8_t> first_bytes) {
  if (transports_ && transports_->accept_wss(std::move(socket), std::move(first_bytes))) return;
  ++refused_;  // the socket closes as it goes out of scope
}

}  // namespace outpost::sip
