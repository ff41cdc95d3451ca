#include "daemon/daemon.h"

#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <csignal>
#include <boost/asio/post.hpp>

#include "common/time_text.h"
#include "daemon/components.h"
#include "generated/build_info.h"

namespace outpost {

namespace asio = boost::asio;

namespace {

class SystemdNotifier : public ServiceNotifier {
 public:
  void notify(const std::string& state) override { sd_notify(0, state.c_str()); }
  std::chrono::microseconds watchdog_interval() override {
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0) return std::chrono::microseconds(usec);
    return std::chrono::microseconds(0);
  }
};

std::string iso_time(std::chrono::system_clock::time_point t) {
  return iso_utc(std::chrono::system_clock::to_time_t(t));
}

}  // namespace

std::unique_ptr<ServiceNotifier> make_systemd_notifier() { return std::make_unique<SystemdNotifier>(); }

Daemon::Daemon(DaemonOptions options, config::Config initial, LogSink& log_sink, ServiceNotifier& notifier)
    : options_(std::move(options)),
      config_(std::move(initial)),
      log_sink_(log_sink),
      log_(log_sink, "outpostd"),
      notifier_(notifier),
      control_server_(io_, control_, metrics_, log_.child("control")),
      metrics_server_(io_, metrics_, log_.child("metrics")),
      signals_(io_),
      watchdog_timer_(io_),
      reloads_ok_(metrics_.counter("outpost_config_reloads_total", "Configuration reloads", {{"result", "ok"}})),
      reloads_failed_(
          metrics_.counter("outpost_config_reloads_total", "Configuration reloads", {{"result", "failed"}})),
      started_(std::chrono::steady_clock::now()),
      config_loaded_at_(std::chrono::system_clock::now()) {
  log_sink_.set_threshold(config_.management.log_level);
  metrics_.gauge("outpost_build_info", "Build information; the value is always 1",
                 {{"version", build::kVersion}, {"revision", build::kGitRevision}})
      .set(1);
  metrics_.gauge("outpost_start_time_seconds", "Start time of outpostd since the Unix epoch")
      .set(static_cast<double>(std::time(nullptr)));
  metrics_.gauge("outpost_config_last_reload_successful", "1 if the last configuration (re)load was applied").set(1);
  uptime_gauge_ = metrics_.gauge_callback("outpost_uptime_seconds", "Seconds since outpostd started", {}, [this] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  });
  register_commands();
}

Daemon::~Daemon() {
  commands_.clear();
  components_.clear();
}

Result<void> Daemon::start() {
  auto& m = config_.management;
  if (auto r = control_server_.open(m.control_socket, m.control_group); !r) return r;
  if (m.metrics_enabled)
    if (auto r = metrics_server_.open(m.metrics); !r) return r;
  components_ = build_components(ComponentContext{io_, log_sink_, metrics_, control_}, config_);
  for (auto& c : components_)
    if (auto r = c->start(); !r) return make_error(std::string(c->name()) + ": " + r.error().message);
  watch_signals();
  arm_watchdog();
  log_.notice("outpostd ", build::kVersion, " started: config ", options_.config_file, ", control ",
              m.control_socket, m.metrics_enabled ? ", metrics http://" + m.metrics.to_string() + "/metrics" : "");
  notifier_.notify("READY=1\nSTATUS=running, config " + options_.config_file);
  return {};
}

int Daemon::run() {
  io_.run();
  return 0;
}

void Daemon::watch_signals() {
  signals_.add(SIGTERM);
  signals_.add(SIGINT);
  signals_.add(SIGHUP);
  signals_.async_wait([this](boost::system::error_code ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      reload("SIGHUP");
      watch_signals();
      return;
    }
    request_stop(sig == SIGTERM ? "SIGTERM" : "SIGINT");
  });
}

void Daemon::arm_watchdog() {
  auto interval = notifier_.watchdog_interval();
  if (interval.count() == 0) return;
  // Ping at half the interval: a late loop iteration must not get us killed.
  watchdog_timer_.expires_after(interval / 2);
  watchdog_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopping_) return;
    notifier_.notify("WATCHDOG=1");
    arm_watchdog();
  });
}

void Daemon::request_stop(const std::string& why) {
  if (stopping_) return;
  stopping_ = true;
  log_.notice("stopping (", why, ")");
  notifier_.notify("STOPPING=1\nSTATUS=stopping");
  boost::system::error_code ec;
  signals_.cancel(ec);
  watchdog_timer_.cancel();
  // Stop in reverse order of start, then give pending handlers one short chance to run.
  for (auto it = components_.rbegin(); it != components_.rend(); ++it) (*it)->stop();
  control_server_.close();
  metrics_server_.close();
  // Components have closed their sockets and cancelled their timers; let handlers already
  // queued (replies in flight) run, then leave the loop without waiting for idle clients.
  asio::post(io_, [this] { io_.stop(); });
}

ControlReply Daemon::reload(const std::string& trigger) {
  notifier_.notify("RELOADING=1\nSTATUS=reloading configuration");
  log_.notice("reloading ", options_.config_file, " (", trigger, ")");
  auto loaded = config::load_config(options_.config_file, options_.load);
  auto now = std::chrono::system_clock::now();
  auto fail = [&](const std::string& summary, Json errors) {
    reloads_failed_.inc();
    metrics_.gauge("outpost_config_last_reload_successful", "").set(0);
    last_reload_ = {{"ok", false}, {"at", iso_time(now)}, {"trigger", trigger}, {"errors", errors}};
    notifier_.notify("READY=1\nSTATUS=running; last reload refused: " + summary);
    ControlReply reply = ControlReply::failure("configuration refused, the running configuration stays in force");
    reply.data = last_reload_;
    return reply;
  };
  if (!loaded.config) {
    Json errors = Json::array();
    for (const auto& e : loaded.errors.list()) {
      log_.err(e.to_string());
      errors.push_back(e.to_string());
    }
    log_.err("configuration refused (", loaded.errors.size(), " errors); the running configuration stays in force");
    auto r = fail(std::to_string(loaded.errors.size()) + " errors", errors);
    r.error = "configuration refused (" + std::to_string(loaded.errors.size()) +
              " errors), the running configuration stays in force:\n" + loaded.errors.to_string();
    return r;
  }
  const auto& next = *loaded.config;
  Json errors = Json::array();
  for (auto& c : components_)
    if (auto r = c->reload(next); !r) {
      log_.err(c->name(), ": reload refused: ", r.error().message);
      errors.push_back(std::string(c->name()) + ": " + r.error().message);
    }
  if (!errors.empty()) return fail("component refused", errors);
  apply_management(next);
  config_ = next;
  config_loaded_at_ = now;
  reloads_ok_.inc();
  metrics_.gauge("outpost_config_last_reload_successful", "").set(1);
  last_reload_ = {{"ok", true}, {"at", iso_time(now)}, {"trigger", trigger}, {"errors", Json::array()}};
  log_.notice("configuration reloaded");
  notifier_.notify("READY=1\nSTATUS=running, config reloaded");
  return ControlReply::success(last_reload_);
}

void Daemon::apply_management(const config::Config& next) {
  const auto& cur = config_.management;
  const auto& nm = next.management;
  log_sink_.set_threshold(nm.log_level);
  bool metrics_changed = cur.metrics_enabled != nm.metrics_enabled || cur.metrics.address != nm.metrics.address ||
                         cur.metrics.port != nm.metrics.port;
  if (metrics_changed) {
    metrics_server_.close();
    if (nm.metrics_enabled)
      if (auto r = metrics_server_.open(nm.metrics); !r) log_.err(r.error().message);
  }
  if (cur.control_socket != nm.control_socket)
    log_.warn("management.control_socket changed: takes effect at the next restart");
}

Json Daemon::status_json() const {
  Json components = Json::object();
  for (const auto& c : components_) components[std::string(c->name())] = c->status();
  auto uptime = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_);
  return {
      {"daemon", "outpostd"},
      {"state", stopping_ ? "stopping" : "running"},
      {"version", build::kVersion},
      {"revision", build::kGitRevision},
      {"pid", ::getpid()},
      {"uptime_s", uptime.count()},
      {"config_file", options_.config_file},
      {"config_loaded_at", iso_time(config_loaded_at_)},
      {"vendor", config_.vendor.display_name.empty() ? config_.vendor.profile : config_.vendor.display_name},
      {"lan_address", config_.lan.address.to_string()},
      {"control_socket", config_.management.control_socket},
      {"metrics", metrics_server_.is_open() ? "http://" + metrics_server_.endpoint().to_string() + "/metrics" : "disabled"},
      {"last_reload", last_reload_},
      {"components", components},
  };
}

void Daemon::register_commands() {
  commands_.push_back(control_.add("status", "daemon state, uptime, config and components",
                                   [this](const Json&) { return ControlReply::success(status_json()); }));
  commands_.push_back(control_.add("show version", "version and build", [](const Json&) {
    return ControlReply::success({{"version", build::kVersion}, {"revision", build::kGitRevision}});
  }));
  commands_.push_back(control_.add("show config", "the running configuration",
                                   [this](const Json&) { return ControlReply::success(config::to_json(config_)); }));
  commands_.push_back(control_.add("config reload", "re-read the config file (like SIGHUP)",
                                   [this](const Json&) { return reload("control socket"); }));
  commands_.push_back(control_.add("help", "list the commands the daemon answers",
                                   [this](const Json&) { return ControlReply::success({{"commands", control_.describe()}}); }));
}

}  // namespace outpost
