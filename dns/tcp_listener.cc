#include "dns/tcp_listener.h"

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

namespace outpost::dns {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

TcpListener::TcpListener(asio::io_context& io, QueryEngine& engine, Logger log)
    : io_(io), acceptor_(io), engine_(engine), log_(log), noisy_(log) {}

Result<std::shared_ptr<TcpListener>> TcpListener::open(asio::io_context& io, const tcp::endpoint& at,
                                                       QueryEngine& engine, Logger log) {
  auto l = std::make_shared<TcpListener>(io, engine, log);
  boost::system::error_code ec;
  l->acceptor_.open(at.protocol(), ec);
  if (!ec && at.address().is_v6()) l->acceptor_.set_option(asio::ip::v6_only(true), ec);
  if (!ec) l->acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) l->acceptor_.bind(at, ec);
  if (!ec) l->acceptor_.listen(128, ec);
  if (ec) return make_error("dns: TCP " + at.address().to_string() + ":" + std::to_string(at.port()) + ": " + ec.message());
  l->local_ = l->acceptor_.local_endpoint(ec);
  return l;
}

void TcpListener::start() { accept(); }

void TcpListener::accept() {
  acceptor_.async_accept([self = weak_from_this()](boost::system::error_code ec, tcp::socket socket) {
    auto l = self.lock();
    if (!l || !l->acceptor_.is_open()) return;
    if (!ec) {
      l->connections_.remove_if([](const std::weak_ptr<TcpConnection>& c) { return c.expired(); });
      if (l->connections_.size() >= kMaxConnections) {
        ++l->rejected_;
        l->noisy_.warn("more than ", kMaxConnections, " DNS TCP connections: closing a new one");
      } else {
        ++l->accepted_;
        auto c = std::make_shared<TcpConnection>(std::move(socket), l->engine_);
        l->connections_.push_back(c);
        c->start();
      }
    }
    l->accept();
  });
}

void TcpListener::close() {
  boost::system::error_code ec;
  acceptor_.close(ec);
  for (auto& w : connections_)
    if (auto c = w.lock()) c->close();
  connections_.clear();
}

nlohmann::json TcpListener::status() const {
  size_t open = 0;
  for (const auto& w : connections_) open += !w.expired();
  return {{"address", local_.address().to_string() + ":" + std::to_string(local_.port())},
          {"transport", "tcp"},
          {"connections", open},
          {"accepted", accepted_},
          {"rejected", rejected_}};
}

TcpConnection::TcpConnection(tcp::socket socket, QueryEngine& engine)
    : socket_(std::move(socket)), idle_(socket_.get_executor()), engine_(engine), buffer_(2 + 65535 + 1024) {
  boost::system::error_code ec;
  auto peer = socket_.remote_endpoint(ec);
  client_.address = peer.address();
  client_.tcp = true;
}

void TcpConnection::start() {
  arm_idle();
  read_length();
}

void TcpConnection::close() {
  boost::system::error_code ec;
  idle_.cancel();
  socket_.close(ec);
  hold_.reset();
}

void TcpConnection::read_failed(boost::system::error_code ec) {
  if (ec == asio::error::eof && (waiting_ || writing_)) {
    // A client may half-close after its last query; its answers still go out.
    peer_done_ = true;
    hold_ = shared_from_this();
    return;
  }
  close();
}

void TcpConnection::close_if_done() {
  if (peer_done_ && !waiting_ && !writing_) close();
}

void TcpConnection::arm_idle() {
  idle_.expires_after(TcpListener::kIdleTimeout);
  idle_.async_wait([self = weak_from_this()](boost::system::error_code ec) {
    if (ec) return;
    if (auto c = self.lock()) c->close();
  });
}

void TcpConnection::read_length() {
  if (waiting_ >= kMaxWaiting) {
    reading_paused_ = true;  // resumed by send_reply()
    hold_ = shared_from_this();
    return;
  }
  asio::async_read(socket_, asio::buffer(buffer_.data(), 2),
                   [self = shared_from_this()](boost::system::error_code ec, size_t) {
                     if (ec) return self->read_failed(ec);
                     self->read_message(get16(self->buffer_.data()));
                   });
}

void TcpConnection::read_message(size_t length) {
  asio::async_read(socket_, asio::buffer(buffer_.data(), length),
                   [self = shared_from_this(), length](boost::system::error_code ec, size_t) {
                     if (ec) return self->read_failed(ec);
                     self->arm_idle();
                     Handled h = self->engine_.handle(self->buffer_.data(), length, self->buffer_.size(),
                                                      self->client_, self);
                     if (h.length) self->queue({self->buffer_.data(), h.length});
                     if (h.later) ++self->waiting_;
                     self->read_length();
                   });
}

bool TcpConnection::send_reply(const asio::ip::udp::endpoint&, std::span<const uint8_t> reply) {
  if (waiting_) --waiting_;
  if (!socket_.is_open()) return false;
  queue(reply);
  if (reading_paused_ && waiting_ < kMaxWaiting && !peer_done_) {
    reading_paused_ = false;
    auto keep = std::move(hold_);
    read_length();
  }
  return true;
}

void TcpConnection::queue(std::span<const uint8_t> reply) {
  std::vector<uint8_t> framed(reply.size() + 2);
  put16(framed.data(), static_cast<uint16_t>(reply.size()));
  std::memcpy(framed.data() + 2, reply.data(), reply.size());
  writes_.push_back(std::move(framed));
  if (!writing_) write_next();
}

void TcpConnection::write_next() {
  if (writes_.empty() || !socket_.is_open()) {
    writing_ = false;
    close_if_done();
    return;
  }
  writing_ = true;
  asio::async_write(socket_, asio::buffer(writes_.front()), [self = shared_from_this()](boost::system::error_code ec, size_t) {
    if (ec) return self->close();
    self->writes_.pop_front();
    self->write_next();
  });
}

}  // namespace outpost::dns
