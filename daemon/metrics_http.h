#pragma once
// Prometheus scrape endpoint: GET /metrics on the management address (HTTP/1.1, Beast).
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>

#include "common/log.h"
#include "common/metrics.h"
#include "common/net.h"
#include "common/result.h"

namespace outpost {

class MetricsHttpServer {
 public:
  MetricsHttpServer(boost::asio::io_context& io, MetricsRegistry& metrics, Logger log);
  ~MetricsHttpServer();
  Result<void> open(const Endpoint& endpoint);
  void close();
  bool is_open() const { return acceptor_ != nullptr; }
  const Endpoint& endpoint() const { return endpoint_; }

 private:
  class Session;
  void accept();

  boost::asio::io_context& io_;
  MetricsRegistry& metrics_;
  Logger log_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  Endpoint endpoint_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace outpost
