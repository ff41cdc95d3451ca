#pragma once
// outpostd's process: the event loop, signals, systemd notification and watchdog, the
// control socket, the metrics endpoint, and the components built from the config.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/component.h"
#include "common/control.h"
#include "common/log.h"
#include "common/metrics.h"
#include "daemon/config_loader.h"
#include "daemon/control_server.h"
#include "daemon/metrics_http.h"

namespace outpost {

// The notification channel to the service manager; a no-op outside systemd.
class ServiceNotifier {
 public:
  virtual ~ServiceNotifier() = default;
  virtual void notify(const std::string& state) = 0;
  // The watchdog interval systemd expects pings within, or zero when disabled.
  virtual std::chrono::microseconds watchdog_interval() = 0;
};
std::unique_ptr<ServiceNotifier> make_systemd_notifier();

struct DaemonOptions {
  std::string config_file;
  config::LoadOptions load;
};

class Daemon {
 public:
  Daemon(DaemonOptions options, config::Config initial, LogSink& log_sink, ServiceNotifier& notifier);
  ~Daemon();

  // Opens the control socket and metrics endpoint and starts the components.
  Result<void> start();
  // Runs the event loop until a stop signal; returns the process exit code.
  int run();
  // Asks the loop to stop gracefully (what SIGTERM does).
  void request_stop(const std::string& why);
  // Re-reads the config file; a bad file is refused and the running config stays.
  ControlReply reload(const std::string& trigger);

  boost::asio::io_context& io() { return io_; }
  MetricsRegistry& metrics() { return metrics_; }
  ControlRegistry& control() { return control_; }
  const config::Config& config() const { return config_; }

 private:
  void register_commands();
  void watch_signals();
  void arm_watchdog();
  void apply_management(const config::Config& next);
  Json status_json() const;

  DaemonOptions options_;
  config::Config config_;
  LogSink& log_sink_;
  Logger log_;
  ServiceNotifier& notifier_;
  boost::asio::io_context io_;
  MetricsRegistry metrics_;
  ControlRegistry control_;
  ControlServer control_server_;
  MetricsHttpServer metrics_server_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer watchdog_timer_;
  std::vector<std::unique_ptr<Component>> components_;
  std::vector<ControlRegistration> commands_;
  GaugeCallbackHandle uptime_gauge_;
  Counter& reloads_ok_;
  Counter& reloads_failed_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::system_clock::time_point config_loaded_at_;
  Json last_reload_ = nullptr;
  bool stopping_ = false;
};

}  // namespace outpost
