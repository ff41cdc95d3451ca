#pragma once
// What every component (dns, sipalg, dataplane, vpn, ...) is to the daemon: built from the
// validated config, started on the daemon's event loop, reloaded with a new config,
// stopped on shutdown, and asked for a status summary. Components register their
// `show`/action commands and metrics through the context they are given.
#include <boost/asio/io_context.hpp>
#include <string_view>

#include "common/control.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/result.h"

namespace outpost {

namespace config {
struct Config;
}

struct ComponentContext {
  boost::asio::io_context& io;
  LogSink& log_sink;
  MetricsRegistry& metrics;
  ControlRegistry& control;
};

class Component {
 public:
  virtual ~Component() = default;
  virtual std::string_view name() const = 0;
  // Opens sockets and starts work. An error keeps the daemon from starting.
  virtual Result<void> start() = 0;
  // Applies a new, fully validated config. An error means the component kept its old
  // config in force; the daemon reports it and keeps running.
  virtual Result<void> reload(const config::Config& config) = 0;
  // Stops accepting work and closes sockets; must return promptly (shutdown has 2 s).
  virtual void stop() = 0;
  // One-line state for `outpostctl status` plus whatever summary the component wants.
  virtual Json status() const = 0;
};

}  // namespace outpost
