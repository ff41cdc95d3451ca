#pragma once
// receive, TCP (RFC 7766): 2-octet length framing, several queries per connection
// (pipelined, answered in any order), an idle timeout, a cap on connections and on queries
// waiting per connection. All on the daemon's io_context.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <list>
#include <memory>
#include <vector>

#include "common/log.h"
#include "common/result.h"
#include "dns/query_engine.h"

namespace outpost::dns {

class TcpConnection;

class TcpListener : public std::enable_shared_from_this<TcpListener> {
 public:
  static constexpr size_t kMaxConnections = 256;
  static constexpr std::chrono::seconds kIdleTimeout{10};

  static Result<std::shared_ptr<TcpListener>> open(boost::asio::io_context& io,
                                                   const boost::asio::ip::tcp::endpoint& at, QueryEngine& engine,
                                                   Logger log);
  TcpListener(boost::asio::io_context& io, QueryEngine& engine, Logger log);
  void start();
  void close();
  nlohmann::json status() const;

 private:
  void accept();

  boost::asio::io_context& io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::ip::tcp::endpoint local_;
  QueryEngine& engine_;
  Logger log_;
  RateLimitedLog noisy_;
  std::list<std::weak_ptr<TcpConnection>> connections_;
  uint64_t accepted_ = 0, rejected_ = 0;
};

class TcpConnection final : public ReplyTarget, public std::enable_shared_from_this<TcpConnection> {
 public:
  static constexpr unsigned kMaxWaiting = 32;  // forwarded queries per connection not yet answered

  TcpConnection(boost::asio::ip::tcp::socket socket, QueryEngine& engine);
  void start();
  void close();
  bool send_reply(const boost::asio::ip::udp::endpoint& peer, std::span<const uint8_t> reply) override;

 private:
  void read_length();
  void read_message(size_t length);
  void queue(std::span<const uint8_t> reply);
  void write_next();
  void arm_idle();
  void read_failed(boost::system::error_code ec);
  void close_if_done();

  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer idle_;
  QueryEngine& engine_;
  Client client_;
  std::vector<uint8_t> buffer_;
  std::deque<std::vector<uint8_t>> writes_;
  std::shared_ptr<TcpConnection> hold_;  // keeps us alive while no read is pending
  unsigned waiting_ = 0;
  bool reading_paused_ = false;
  bool writing_ = false;
  bool peer_done_ = false;  // the client closed its side: close once every answer is written
};

}  // namespace outpost::dns
