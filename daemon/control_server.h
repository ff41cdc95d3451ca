#pragma once
// The control socket: a Unix stream socket speaking one JSON request per line and one
// JSON response per line (see common/control.h), dispatched to the ControlRegistry.
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <memory>
#include <string>

#include "common/control.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/result.h"

namespace outpost {

class ControlServer {
 public:
  ControlServer(boost::asio::io_context& io, ControlRegistry& registry, MetricsRegistry& metrics, Logger log);
  ~ControlServer();

  // Binds `path` (0660, group `group` if it exists). Refuses if another daemon answers there.
  Result<void> open(const std::string& path, const std::string& group);
  void close();
  const std::string& path() const { return path_; }

 private:
  class Session;
  void accept();

  boost::asio::io_context& io_;
  ControlRegistry& registry_;
  Logger log_;
  Counter& requests_;
  Counter& bad_requests_;
  std::unique_ptr<boost::asio::local::stream_protocol::acceptor> acceptor_;
  std::string path_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace outpost
