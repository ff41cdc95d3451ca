#include "daemon/metrics_http.h"

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace outpost {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

class MetricsHttpServer::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, MetricsRegistry& metrics) : stream_(std::move(socket)), metrics_(metrics) {}

  void read() {
    request_ = {};
    stream_.expires_after(std::chrono::seconds(10));  // a stuck scraper cannot hold a socket forever
    http::async_read(stream_, buffer_, request_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->on_request(ec); });
  }

 private:
  void on_request(beast::error_code ec) {
    if (ec) return;
    auto response = std::make_shared<http::response<http::string_body>>();
    response->version(request_.version());
    response->keep_alive(request_.keep_alive());
    response->set(http::field::server, "outpostd");
    if (request_.method() != http::verb::get && request_.method() != http::verb::head) {
      response->result(http::status::method_not_allowed);
      response->set(http::field::allow, "GET, HEAD");
      response->body() = "method not allowed\n";
    } else if (request_.target() != "/metrics") {
      response->result(http::status::not_found);
      response->body() = "not found: try /metrics\n";
    } else {
      response->result(http::status::ok);
      response->set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      if (request_.method() == http::verb::get) response->body() = metrics_.render();
    }
    response->prepare_payload();
    http::async_write(stream_, *response, [self = shared_from_this(), response](beast::error_code ec, size_t) {
      if (ec || !response->keep_alive()) {
        beast::error_code ignored;
        self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
        return;
      }
      self->read();
    });
  }

  beast::tcp_stream stream_;
  MetricsRegistry& metrics_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
};

MetricsHttpServer::MetricsHttpServer(asio::io_context& io, MetricsRegistry& metrics, Logger log)
    : io_(io), metrics_(metrics), log_(std::move(log)) {}

MetricsHttpServer::~MetricsHttpServer() { close(); }

Result<void> MetricsHttpServer::open(const Endpoint& endpoint) {
  auto acceptor = std::make_unique<tcp::acceptor>(io_);
  tcp::endpoint ep(endpoint.address, endpoint.port);
  boost::system::error_code ec;
  acceptor->open(ep.protocol(), ec);
  if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->bind(ep, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return make_error("cannot listen for metrics on " + endpoint.to_string() + ": " + ec.message());
  acceptor_ = std::move(acceptor);
  endpoint_ = endpoint;
  accept();
  return {};
}

void MetricsHttpServer::close() {
  *alive_ = false;
  alive_ = std::make_shared<bool>(true);
  if (acceptor_) {
    boost::system::error_code ec;
    acceptor_->close(ec);
    acceptor_.reset();
  }
}

void MetricsHttpServer::accept() {
  acceptor_->async_accept([this, alive = alive_](boost::system::error_code ec, tcp::socket socket) {
    if (!*alive) return;
    if (!ec) std::make_shared<Session>(std::move(socket), metrics_)->read();
    if (acceptor_) accept();
  });
}

}  // namespace outpost
