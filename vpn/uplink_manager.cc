// The uplink component (UplinkManager): wires the probe monitor and link events (receive)
// to UplinkHealth and FailoverPolicy (decide), applies decisions through NetlinkRouting and
// WireGuardTunnel (act), and counts (stats.h). Also `show uplinks`, `diag uplinks` and
// `uplink prefer`.
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cmath>
#include <ctime>
#include <algorithm>
#include <deque>
#include <set>
#include <fstream>
#include <sstream>

#include "vpn/failover_policy.h"
#include "vpn/link_provision.h"
#include "vpn/netlink_routing.h"
#include "vpn/routing_plan.h"
#include "vpn/stats.h"
#include "vpn/uplink_monitor.h"
#include "vpn/uplinks.h"
#include "vpn/wireguard_tunnel.h"

namespace outpost::vpn {
namespace {

namespace asio = boost::asio;

// The vendors' limits for voice (CONTEXT.md: Orange/Webex access specification).
constexpr double kMaxLatencyMs = 150, kMaxJitterMs = 40, kMaxLossPct = 1;
constexpr uint64_t kMinSamples = 20;  // fewer echoes than this: no verdict yet

HealthSettings health_settings(const config::Config& c) {
  const auto& p = c.uplinks.probe;
  HealthSettings s;
  s.interval = Millis(p.interval_ms);
  s.timeout = Millis(p.timeout_ms);
  s.loss_threshold = p.loss_threshold;
  s.holddown = Millis(uint64_t(p.holddown_s) * 1000);
  s.max_loss = kMaxLossPct / 100;
  return s;
}

std::string wall_time() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", std::gmtime(&t));
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, int(ms));
  return out;
}

double round1(double v) { return std::round(v * 10) / 10; }
size_t idx(Path p) { return p == Path::primary ? 0 : 1; }

// The probe kind of one uplink: its own `probe:` or else uplinks.probe.kind (validated by the loader).
ProbeMode probe_mode(const config::Config& c, Path p) {
  const std::string& own = p == Path::primary ? c.uplinks.primary.probe : c.uplinks.backup.probe;
  return parse_probe_mode(own.empty() ? c.uplinks.probe.kind : own).value_or(ProbeMode::automatic);
}

struct SwitchRecord {
  std::string at;
  Path from, to;
  std::string reason;
  double gap_ms;  // probe-estimated outage: 0 when the old path still answered (make-before-break)
};

struct PathCounters {
  Counter* sent;
  Counter* received;
  Counter* lost;
  uint64_t lost_seen = 0;
};

class UplinkManager final : public Component {
 public:
  UplinkManager(const ComponentContext& context, const config::Config& config)
      : context_(context),
        log_(context.log_sink, "uplinks"),
        config_(config),
        plan_(RoutingPlan::from_config(config)),
        stats_(UplinkStats::make(context.metrics)),
        health_{UplinkHealth(health_settings(config)), UplinkHealth(health_settings(config))},
        policy_(plan_.has_backup),
        reconcile_timer_(context.io),
        detect_timer_(context.io),
        provision_timer_(context.io),
        housekeeping_(context.io) {
    for (Path p : {Path::primary, Path::backup}) {
      Labels l{{"uplink", to_string(p)}};
      auto& m = context.metrics;
      path_counters_[idx(p)] = {&m.counter("outpost_uplink_probes_sent_total", "Probes sent on the uplink", l),
                                &m.counter("outpost_uplink_probes_received_total", "Probe echoes received", l),
                                &m.counter("outpost_uplink_probes_lost_total", "Probes unanswered after the timeout", l)};
    }
  }

  ~UplinkManager() override { stop(); }

  std::string_view name() const override { return "uplinks"; }

  Result<void> start() override {
    std::optional<TunnelSettings> tunnel;
    if (plan_.has_backup) {
      auto ts = tunnel_settings(config_, plan_);
      if (!ts) return ts.error();
      tunnel = *ts;
    }
    if (auto r = open_netlink(); !r) return r;
    ensure_primary_devices();
    ensure_primary_address();
    monitor_ = std::make_unique<UplinkMonitor>(
        context_.io, log_.child("probe"),
        UplinkMonitor::Events{[this](Path p, uint64_t seq, TimePoint now) { on_sent(p, seq, now); },
                              [this](Path p, uint64_t seq, TimePoint now) { on_echo(p, seq, now); },
                              [this](TimePoint now) { on_tick(now); }});
    if (tunnel) {
      tunnel_ = std::make_unique<WireGuardTunnel>(log_.child("wireguard"), *netlink_);
      start_tunnel(*tunnel);
    }
    refresh_links();
    reconcile_now();
    configure_monitor();
    monitor_->start();
    housekeeping();
    register_commands();
    register_gauges();
    running_ = true;
    log_.notice("vendor prefixes via ", to_string(policy_.active()), " in table ", plan_.table, ", rule priority ",
                plan_.priority, "; probing ", config_.uplinks.probe.targets.size(), " target(s) every ",
                config_.uplinks.probe.interval_ms, " ms");
    return {};
  }

  Result<void> reload(const config::Config& next) override {
    auto plan = RoutingPlan::from_config(next);
    std::optional<TunnelSettings> tunnel;
    if (plan.has_backup) {
      auto ts = tunnel_settings(next, plan);
      if (!ts) return ts.error();
      tunnel = *ts;
    }
    if (plan.table != plan_.table || plan.priority != plan_.priority) {
      report(netlink_->remove_all());
      plan_ = plan;
      if (auto r = open_netlink(); !r) return r;
    }
    bool primary_changed = plan.primary_if != plan_.primary_if || plan.primary_gateway != plan_.primary_gateway ||
                           plan.primary_source != plan_.primary_source;
    config_ = next;
    plan_ = plan;
    for (auto& h : health_) h.set_settings(health_settings(next));
    if (primary_changed) health_[0] = UplinkHealth(health_settings(next));  // a new link proves itself afresh
    ensure_primary_devices();
    ensure_primary_address();
    policy_.set_has_backup(plan_.has_backup);
    if (tunnel) {
      if (!tunnel_) tunnel_ = std::make_unique<WireGuardTunnel>(log_.child("wireguard"), *netlink_);
      if (!(tunnel_->settings() == *tunnel) || !tunnel_->running()) start_tunnel(*tunnel);
    } else if (tunnel_) {
      tunnel_->stop();
      tunnel_.reset();
    }
    refresh_links();
    configure_monitor();
    evaluate(Clock::now());
    reconcile_now();
    log_.notice("reloaded: ", plan_.destinations.size(), " destinations via ", to_string(policy_.active()));
    return {};
  }

  void stop() override {
    if (!running_) return;
    running_ = false;
    commands_.clear();
    gauges_.clear();
    reconcile_timer_.cancel();
    detect_timer_.cancel();
    housekeeping_.cancel();
    if (monitor_) monitor_->stop();
    events_.reset();
    provision_timer_.cancel();
    if (netlink_) {
      if (owned_address_) (void)netlink_->remove_address(owned_address_->first, owned_address_->second);
      owned_address_.reset();
      auto rep = netlink_->remove_all();
      for (auto it = owned_devices_.rbegin(); it != owned_devices_.rend(); ++it)
        if (auto r = netlink_->delete_device(it->name); !r) log_.warn(r.error().message);
      log_.notice("stopped: removed ", rep.routes_removed, " routes, ", rep.rules_removed, " rules and ",
                  owned_devices_.size(), " device(s)");
      owned_devices_.clear();
    }
    if (tunnel_) tunnel_->stop();
  }

  Json status() const override {
    return {{"state", running_ ? "running" : "stopped"},
            {"active", to_string(policy_.active())},
            {"preference", to_string(preference_)},
            {"primary", plan_.has_primary ? (health_[0].up() ? "up" : "down") : "not configured"},
            {"backup", plan_.has_backup ? (health_[1].up() ? "up" : "down") : "not configured"},
            {"switches", stats_.switches.value()}};
  }

 private:
  Result<void> open_netlink() {
    events_.reset();
    auto nl = NetlinkRouting::open(plan_.table, plan_.priority);
    if (!nl) return nl.error();
    netlink_ = std::move(*nl);
    auto ev = NetlinkEvents::open(
        context_.io, plan_.table, plan_.priority,
        [this](const LinkState& s, bool removed) { on_link(s, removed); }, [this] { schedule_reconcile(); },
        [this] {
          stats_.netlink_resyncs.inc();
          refresh_links();
          schedule_reconcile();
        });
    if (!ev) return ev.error();
    events_ = std::move(*ev);
    return {};
  }

  std::optional<Path> path_of(const std::string& ifname) const {
    if (plan_.has_primary && ifname == plan_.primary_if) return Path::primary;
    if (plan_.has_backup && ifname == plan_.backup_if) return Path::backup;
    return std::nullopt;
  }

  void refresh_links() {
    auto now = Clock::now();
    for (Path p : {Path::primary, Path::backup}) {
      const std::string& ifname = p == Path::primary ? plan_.primary_if : plan_.backup_if;
      if (ifname.empty()) continue;
      auto l = netlink_->link(ifname);
      health_[idx(p)].link(l && l->usable(), now);
    }
  }

  void configure_monitor() {
    monitor_->set_targets(config_.uplinks.probe.targets);
    monitor_->set_interval(Millis(config_.uplinks.probe.interval_ms));
    unsigned fallback_after = config_.uplinks.probe.loss_threshold;
    monitor_->set_path(Path::primary, plan_.has_primary ? std::optional(ProbePath{plan_.primary_if, plan_.primary_source,
                                                                                  probe_mode(config_, Path::primary),
                                                                                  fallback_after})
                                                        : std::nullopt);
    monitor_->set_path(Path::backup, plan_.has_backup ? std::optional(ProbePath{plan_.backup_if, plan_.backup_source,
                                                                                probe_mode(config_, Path::backup),
                                                                                fallback_after})
                                                      : std::nullopt);
  }

  void start_tunnel(const TunnelSettings& ts) {
    stats_.tunnel_starts.inc();
    if (auto r = tunnel_->start(ts); !r) {
      stats_.tunnel_failures.inc();
      log_.err("backup tunnel: ", r.error().message, " (retrying)");
      return;
    }
    monitor_->reopen(Path::backup);  // a new TUN device has a new ifindex
    schedule_reconcile();
  }

  // ---- receive ---------------------------------------------------------------------

  void on_sent(Path p, uint64_t seq, TimePoint now) {
    health_[idx(p)].probe_sent(seq, now);
    path_counters_[idx(p)].sent->inc();
  }

  void on_echo(Path p, uint64_t seq, TimePoint now) {
    if (!health_[idx(p)].reply(seq, now)) return;
    path_counters_[idx(p)].received->inc();
    evaluate(now);
    arm_detection();
    if (p == Path::primary && provision_) commit_provisioning();
  }

  // The primary's address: added when the interface lacks it, and then outpost's to remove.
  void ensure_primary_address() {
    const auto& want = config_.uplinks.primary.address;
    bool same = owned_address_ && plan_.has_primary && owned_address_->first == plan_.primary_if &&
                owned_address_->second.to_string() == want.to_string();
    if (owned_address_ && !same) {
      if (auto r = netlink_->remove_address(owned_address_->first, owned_address_->second); !r)
        log_.warn(r.error().message);
      owned_address_.reset();
    }
    if (!plan_.has_primary || owned_address_) return;
    auto added = netlink_->add_address_if_missing(plan_.primary_if, want);
    if (added && *added) {
      owned_address_ = std::make_pair(plan_.primary_if, want);
      log_.info("added ", want.to_string(), " to ", plan_.primary_if);
    }
  }

  // The primary's VLAN/VXLAN devices: created when missing (at start, on reload, and when
  // someone deleted them by hand: every reconcile), and then outpost's, removed on change
  // or stop. A device that was there before outpost, of the right kind, is used, not owned.
  void ensure_primary_devices() {
    auto want = primary_devices(config_);
    auto wanted = [&](const DeviceSpec& d) { return std::find(want.begin(), want.end(), d) != want.end(); };
    for (auto it = owned_devices_.rbegin(); it != owned_devices_.rend(); ++it)
      if (!wanted(*it)) {
        if (auto r = netlink_->delete_device(it->name); !r) log_.warn(r.error().message);
        else log_.info("removed ", it->to_string());
      }
    std::erase_if(owned_devices_, [&](const DeviceSpec& d) { return !wanted(d); });
    std::string error;
    for (const auto& d : want) {
      auto created = netlink_->ensure_device(d);
      if (!created) {
        error = created.error().message;
        break;  // the next device sits on this one
      }
      if (!*created) continue;
      stats_.devices_created.inc();
      if (std::find(owned_devices_.begin(), owned_devices_.end(), d) == owned_devices_.end()) owned_devices_.push_back(d);
      log_.notice("created ", d.to_string(), d.mtu ? ", MTU " + std::to_string(d.mtu) : std::string());
      // A recreated device comes without the address, and with a new ifindex for the probes.
      if (owned_address_ && owned_address_->first == d.name) owned_address_.reset();
      if (monitor_) monitor_->reopen(Path::primary);
    }
    if (!error.empty() && error != device_error_) log_.err("primary: ", error);
    device_error_ = error;
  }

  // ---- provisioning (commit-confirm) ---------------------------------------------------

  void provision(const Json& args, const ControlResponder& respond) {
    if (provision_) return respond(ControlReply::failure("a provisioning is waiting for its confirmation"));
    auto req = parse_primary_request(args);
    if (!req) return respond(ControlReply::usage(req.error().message));
    std::ifstream in(config_.file);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) return respond(ControlReply::failure("cannot read " + config_.file));
    auto next = with_primary(text.str(), *req);
    if (!next) return respond(ControlReply::failure(next.error().message));
    if (auto w = write_config_atomically(config_.file, *next); !w) return respond(ControlReply::failure(w.error().message));
    unsigned timeout = req->confirm_timeout_s ? req->confirm_timeout_s : config_.uplinks.confirm_timeout_s;
    log_.notice("provisioning primary ", req->interface, req->vlan ? "." + std::to_string(*req->vlan) : "", " ",
                req->address.to_string(), " via ", req->gateway.to_string(), ": written to ", config_.file,
                ", applying; rollback in ", timeout, " s unless the vendor answers through it");
    ControlReply applied = reload_daemon();
    if (!applied.ok) {
      if (auto r = restore_previous_config(config_.file); !r) log_.err("rollback: ", r.error().message);
      reload_daemon();
      last_provision_ = {{"state", "refused"}, {"at", wall_time()}, {"errors", applied.data.value("errors", Json::array())}};
      ControlReply f = ControlReply::failure("provisioning refused, previous configuration restored: " + applied.error);
      f.data = last_provision_;
      return respond(f);
    }
    provision_ = Provisioning{*req, timeout, req->wait ? respond : ControlResponder()};
    last_provision_ = {{"state", "confirming"}, {"at", wall_time()}, {"interface", req->interface},
                       {"address", req->address.to_string()}, {"gateway", req->gateway.to_string()},
                       {"confirm_timeout_s", timeout}};
    provision_timer_.expires_after(std::chrono::seconds(timeout));
    provision_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec && running_ && provision_) rollback_provisioning();
    });
    if (health_[0].up()) commit_provisioning();  // unchanged link: already proven
    if (!req->wait) respond(ControlReply::success(last_provision_));
  }

  ControlReply reload_daemon() {
    ControlReply out = ControlReply::failure("no answer from config reload");
    context_.control.dispatch("config reload", Json::object(), [&out](ControlReply r) { out = std::move(r); });
    return out;
  }

  void commit_provisioning() {
    provision_timer_.cancel();
    auto p = std::move(*provision_);
    provision_.reset();
    last_provision_["state"] = "committed";
    last_provision_["at"] = wall_time();
    log_.notice("provisioning committed: the vendor answers through ", p.request.interface);
    if (p.respond) p.respond(ControlReply::success(last_provision_));
  }

  void rollback_provisioning() {
    auto p = std::move(*provision_);
    provision_.reset();
    auto restored = restore_previous_config(config_.file);
    ControlReply r = restored ? reload_daemon() : ControlReply::failure(restored.error().message);
    last_provision_["state"] = "rolled_back";
    last_provision_["at"] = wall_time();
    last_provision_["reason"] = "no echo from the vendor through " + p.request.interface + " within " +
                                std::to_string(p.timeout_s) + " s";
    if (!r.ok) last_provision_["rollback_error"] = r.error;
    log_.warn("provisioning rolled back: ", last_provision_["reason"].get<std::string>(),
              r.ok ? "" : "; rollback failed: " + r.error);
    if (p.respond) {
      ControlReply f = ControlReply::failure("provisioning rolled back: " + last_provision_["reason"].get<std::string>());
      f.data = last_provision_;
      p.respond(f);
    }
  }

  // Detection runs at the exact deadline (last echo + threshold x interval), not at the
  // next probe round: up to one interval sooner.
  void arm_detection() {
    std::optional<TimePoint> first;
    for (const auto& h : health_)
      if (auto d = h.detection_deadline(); d && (!first || *d < *first)) first = d;
    if (!first) return;
    detect_timer_.expires_at(*first);
    detect_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec && running_) on_tick(Clock::now());
    });
  }

  void on_tick(TimePoint now) {
    for (Path p : {Path::primary, Path::backup}) {
      auto& h = health_[idx(p)];
      h.tick(now);
      auto& pc = path_counters_[idx(p)];
      if (h.stats().lost > pc.lost_seen) pc.lost->inc(h.stats().lost - pc.lost_seen);
      pc.lost_seen = h.stats().lost;
    }
    evaluate(now);
  }

  void on_link(const LinkState& s, bool removed) {
    auto p = path_of(s.name);
    if (!p) return;
    stats_.link_events.inc();
    auto now = Clock::now();
    health_[idx(*p)].link(!removed && s.usable(), now);
    if (removed) monitor_->reopen(*p);
    evaluate(now);  // carrier loss fails over now, without waiting for the probes
    schedule_reconcile();
  }

  // ---- decide and act ------------------------------------------------------------------

  void evaluate(TimePoint now) {
    Preference pref = plan_.has_primary ? preference_ : Preference::backup;
    Path before = policy_.active();
    Decision d = policy_.decide(health_[0], plan_.has_backup ? &health_[1] : nullptr, pref, now);
    if (!d.changed) return;
    unsigned failed = 0;
    for (const auto& r : plan_.active_routes(d.active))
      if (auto res = netlink_->replace(r); !res) {
        ++failed;
        stats_.netlink_errors.inc();
        log_.err("switch to ", to_string(d.active), ": ", res.error().message);
      }
    const auto& old = health_[idx(before)];
    double gap = 0;
    if (!old.up() && old.last_reply()) gap = std::chrono::duration<double, std::milli>(now - *old.last_reply()).count();
    history_.push_back({wall_time(), before, d.active, d.reason, round1(gap)});
    while (history_.size() > 50) history_.pop_front();
    stats_.switches.inc();
    (d.active == Path::backup ? stats_.failovers : stats_.failbacks).inc();
    log_.notice("switched ", to_string(before), " -> ", to_string(d.active), ": ", d.reason, " (gap ", round1(gap),
                " ms", failed ? ", " + std::to_string(failed) + " route(s) failed" : std::string(), ")");
  }

  void schedule_reconcile() {
    if (reconcile_pending_) return;
    reconcile_pending_ = true;
    reconcile_timer_.expires_after(std::chrono::milliseconds(20));  // coalesce event bursts
    reconcile_timer_.async_wait([this](boost::system::error_code ec) {
      reconcile_pending_ = false;
      if (!ec && running_) reconcile_now(true);
    });
  }

  void reconcile_now(bool after_event = false) {
    ensure_primary_devices();
    ensure_primary_address();
    auto rep = netlink_->reconcile(plan_.state(policy_.active()));
    stats_.reconciles.inc();
    if (after_event && rep.changed()) {
      stats_.repairs.inc(rep.routes_added + rep.routes_removed + rep.rules_added + rep.rules_removed);
      log_.warn("repaired outpost's routing: ", rep.routes_added, " route(s) added, ", rep.routes_removed,
                " removed, ", rep.rules_added, " rule(s) added, ", rep.rules_removed, " removed");
    }
    report(rep);
    last_pending_ = rep.pending;
  }

  // Every failure is counted; the same failure is logged once, not every second.
  void report(const ReconcileReport& rep) {
    std::set<std::string> now(rep.errors.begin(), rep.errors.end());
    for (const auto& e : rep.errors) {
      stats_.netlink_errors.inc();
      if (!logged_errors_.count(e)) log_.err("routing: ", e);
    }
    logged_errors_ = std::move(now);
    last_errors_ = rep.errors.size();
  }

  void housekeeping() {
    housekeeping_.expires_after(std::chrono::seconds(1));
    housekeeping_.async_wait([this](boost::system::error_code ec) {
      if (ec || !running_) return;
      if (tunnel_ && !tunnel_->running() && ++tunnel_wait_ >= 3) {
        tunnel_wait_ = 0;
        auto ts = tunnel_settings(config_, plan_);
        if (ts) start_tunnel(*ts);
      }
      if (last_pending_ || last_errors_) reconcile_now();
      housekeeping();
    });
  }

  // ---- commands and metrics --------------------------------------------------------------

  void register_commands() {
    auto& c = context_.control;
    commands_.push_back(c.add("show uplinks", "uplink state, active path, probe statistics, switch history",
                              [this](const Json&) { return ControlReply::success(show()); }));
    commands_.push_back(c.add("diag uplinks",
                              "each uplink against the vendors' limits (latency < 150 ms, jitter < 40 ms, "
                              "loss < 1 %) and its capacity in calls",
                              [this](const Json&) { return ControlReply::success(diag()); }));
    commands_.push_back(c.add_async(
        "link provision",
        "provision the primary link with commit-confirm: link provision primary --interface IF [--vlan ID] "
        "--address A/P --gateway G [--mtu N] [--confirm-timeout S] [--wait]",
        [this](const Json& args, ControlResponder respond) { provision(args, respond); }));
    commands_.push_back(c.add("uplink prefer", "force the active uplink: uplink prefer primary|backup|auto",
                              [this](const Json& args) { return prefer(args); }));
  }

  void register_gauges() {
    auto& m = context_.metrics;
    for (Path p : {Path::primary, Path::backup}) {
      if (p == Path::primary ? !plan_.has_primary : !plan_.has_backup) continue;
      Labels l{{"uplink", to_string(p)}};
      const UplinkHealth* h = &health_[idx(p)];
      gauges_.push_back(m.gauge_callback("outpost_uplink_up", "1 if the uplink answers its probes", l,
                                         [h] { return h->up() ? 1.0 : 0.0; }));
      gauges_.push_back(m.gauge_callback("outpost_uplink_active", "1 for the uplink that carries vendor traffic", l,
                                         [this, p] { return policy_.active() == p ? 1.0 : 0.0; }));
      gauges_.push_back(m.gauge_callback("outpost_uplink_rtt_ms", "Probe round-trip time (EWMA)", l,
                                         [h] { return h->stats().rtt_avg_ms; }));
      gauges_.push_back(m.gauge_callback("outpost_uplink_jitter_ms", "Probe RTT jitter (RFC 3550 estimator)", l,
                                         [h] { return h->stats().jitter_ms; }));
      gauges_.push_back(m.gauge_callback("outpost_uplink_loss_ratio", "Lost probes over the last 200", l,
                                         [h] { return h->stats().recent_loss; }));
    }
  }

  Json uplink_json(Path p, TimePoint now) const {
    const auto& h = health_[idx(p)];
    const auto& s = h.stats();
    auto up_for = h.up_since() ? Json(round1(std::chrono::duration<double>(now - *h.up_since()).count())) : Json(nullptr);
    return {{"uplink", to_string(p)},
            {"interface", p == Path::primary ? plan_.primary_if : plan_.backup_if},
            {"state", h.up() ? "up" : "down"},
            {"why", h.up() ? "" : h.reason()},
            {"link", h.link_up() ? "up" : "down"},
            {"active", policy_.active() == p},
            {"stable", h.stable(now)},
            {"up_for_s", up_for},
            {"rtt_ms", round1(s.rtt_avg_ms)},
            {"rtt_min_ms", round1(s.rtt_min_ms)},
            {"rtt_max_ms", round1(s.rtt_max_ms)},
            {"jitter_ms", round1(s.jitter_ms)},
            {"loss_pct", round1(s.recent_loss * 100)},
            {"sent", s.sent},
            {"received", s.received},
            {"lost", s.lost},
            {"late", s.late},
            {"detections", s.detections},
            {"link_downs", s.link_downs},
            {"probe", probe_json(p)}};
  }

  // Which probe kind this uplink uses now (auto: UDP, or ICMP while the UDP echo is silent).
  Json probe_json(Path p) const {
    ProbeStatus ps = monitor_ ? monitor_->probe_status(p) : ProbeStatus{};
    return {{"mode", to_string(ps.mode)},
            {"in_use", to_string(ps.in_use)},
            {"trying_icmp", ps.trying_icmp},
            {"kind_switches", ps.kind_switches},
            {"udp_echoes", ps.udp_echoes},
            {"icmp_echoes", ps.icmp_echoes},
            {"icmp_socket", ps.icmp_socket.empty() ? Json(nullptr) : Json(ps.icmp_socket)},
            {"icmp_error", ps.icmp_error.empty() ? Json(nullptr) : Json(ps.icmp_error)}};
  }

  Json show() const {
    auto now = Clock::now();
    Json uplinks = Json::array();
    if (plan_.has_primary) uplinks.push_back(uplink_json(Path::primary, now));
    if (plan_.has_backup) uplinks.push_back(uplink_json(Path::backup, now));
    Json history = Json::array();
    for (auto it = history_.rbegin(); it != history_.rend(); ++it)
      history.push_back({{"at", it->at}, {"from", to_string(it->from)}, {"to", to_string(it->to)},
                         {"gap_ms", it->gap_ms}, {"reason", it->reason}});
    Json destinations = Json::array();
    for (const auto& d : plan_.destinations) destinations.push_back(d.to_string());
    const auto& mc = monitor_->counters();
    Json counters = stats_.to_json();
    counters["probe_send_errors"] = mc.send_errors;
    counters["probe_bad_echoes"] = mc.bad_echoes;
    counters["probe_socket_errors"] = mc.socket_errors;
    counters["netlink_events"] = events_ ? events_->events() : 0;
    Json targets = Json::array();
    for (const auto& t : config_.uplinks.probe.targets) targets.push_back(t.to_string());
    return {{"active", to_string(policy_.active())},
            {"preference", to_string(preference_)},
            {"table", plan_.table},
            {"rule_priority", plan_.priority},
            {"destinations", destinations},
            {"probe",
             {{"targets", targets},
              {"interval_ms", config_.uplinks.probe.interval_ms},
              {"loss_threshold", config_.uplinks.probe.loss_threshold},
              {"holddown_s", config_.uplinks.probe.holddown_s},
              {"kind", config_.uplinks.probe.kind}}},
            {"uplinks", uplinks},
            {"tunnel", tunnel_ ? tunnel_->status() : Json(nullptr)},
            {"history", history},
            {"provisioning", last_provision_.empty() ? Json(nullptr) : last_provision_},
            {"primary_address_owned", owned_address_ ? Json(owned_address_->second.to_string()) : Json(nullptr)},
            {"primary_devices", devices_json()},
            {"vendor_side", vendor_side_json()},
            {"counters", counters},
            {"kernel", netlink_->dump()}};
  }

  // What the vendor's end must hold for calls to survive a switch (README "Calls across a
  // switch"): the same vendor-facing address on both paths. For the provisioning sheet.
  Json vendor_side_json() const {
    if (!plan_.has_backup) return nullptr;
    Json allowed = {Prefix{plan_.backup_source, 32}.to_string()};
    Json out = {{"peer_allowed_ips", allowed}};
    if (plan_.has_primary) {
      out["peer_allowed_ips"].push_back(Prefix{plan_.primary_source, 32}.to_string());
      out["route_via_tunnel"] = config_.uplinks.primary.address.network().to_string() +
                                " (metric above the private link's route)";
    }
    return out;
  }

  Json devices_json() const {
    Json out = Json::array();
    for (const auto& d : primary_devices(config_)) {
      Json j = {{"name", d.name}, {"kind", d.kind == DeviceSpec::Kind::vlan ? "vlan" : "vxlan"}, {"parent", d.parent},
                {"mtu", d.mtu}, {"owned", std::find(owned_devices_.begin(), owned_devices_.end(), d) != owned_devices_.end()}};
      if (d.kind == DeviceSpec::Kind::vlan) j["vlan"] = d.vlan_id;
      else j.update({{"vni", d.vni}, {"remote", d.remote ? d.remote->to_string() : ""}, {"port", d.port}});
      out.push_back(j);
    }
    if (!device_error_.empty() && !out.empty()) out.back()["error"] = device_error_;
    return out;
  }

  // Link speed from sysfs (Mbit/s), the only capacity figure the kernel gives; null if unknown.
  static std::optional<double> link_speed_mbps(const std::string& ifname) {
    std::ifstream in("/sys/class/net/" + ifname + "/speed");
    long v = 0;
    if (ifname.empty() || !(in >> v) || v <= 0) return std::nullopt;
    return double(v);
  }

  Json diag() const {
    auto verdict = [](bool ok) { return ok ? "PASS" : "FAIL"; };
    Json rows = Json::array();
    bool all_pass = true;
    for (Path p : {Path::primary, Path::backup}) {
      if (p == Path::primary ? !plan_.has_primary : !plan_.has_backup) continue;
      const auto& s = health_[idx(p)].stats();
      std::string speed_if = p == Path::primary ? plan_.primary_if : config_.uplinks.backup.underlay_interface;
      auto speed = link_speed_mbps(speed_if);
      Json capacity = speed ? Json(uint64_t(*speed * 1000 / config_.vendor.kbps_per_call)) : Json(nullptr);
      Json row = {{"uplink", to_string(p)}, {"samples", s.received}};
      if (s.received < kMinSamples || !health_[idx(p)].up()) {
        row["latency"] = row["jitter"] = row["loss"] = health_[idx(p)].up() ? "WAIT" : "FAIL";
        row["verdict"] = health_[idx(p)].up() ? "WAIT" : "FAIL";
        all_pass = false;
      } else {
        bool lat = s.rtt_avg_ms < kMaxLatencyMs, jit = s.jitter_ms < kMaxJitterMs, loss = s.recent_loss * 100 < kMaxLossPct;
        row["latency"] = verdict(lat);
        row["jitter"] = verdict(jit);
        row["loss"] = verdict(loss);
        row["verdict"] = verdict(lat && jit && loss);
        all_pass = all_pass && lat && jit && loss;
      }
      row["rtt_ms"] = round1(s.rtt_avg_ms);
      row["jitter_ms"] = round1(s.jitter_ms);
      row["loss_pct"] = round1(s.recent_loss * 100);
      row["capacity_calls"] = capacity;
      row["probe"] = monitor_ ? to_string(monitor_->probe_status(p).in_use) : "udp";
      row["capacity_basis"] = speed ? "link speed of " + speed_if + " (" + std::to_string(int64_t(*speed)) + " Mbit/s) at " +
                                          std::to_string(config_.vendor.kbps_per_call) + " kbit/s per call"
                                    : std::string("unknown (no link speed for ") + speed_if + ")";
      rows.push_back(row);
    }
    return {{"limits", {{"latency_ms", kMaxLatencyMs}, {"jitter_ms", kMaxJitterMs}, {"loss_pct", kMaxLossPct}}},
            {"note", "latency is the probe round-trip time (stricter than one-way)"},
            {"uplinks", rows},
            {"verdict", verdict(all_pass)}};
  }

  ControlReply prefer(const Json& args) {
    const Json pos = args.value("args", Json::array());
    std::optional<Preference> p;
    if (pos.is_array() && pos.size() == 1 && pos[0].is_string()) p = parse_preference(pos[0].get<std::string>());
    if (!p) return ControlReply::usage("usage: uplink prefer primary|backup|auto");
    if (*p == Preference::backup && !plan_.has_backup) return ControlReply::failure("no backup uplink configured");
    if (*p == Preference::primary && !plan_.has_primary) return ControlReply::failure("no primary uplink configured");
    preference_ = *p;
    evaluate(Clock::now());
    log_.notice("preference set to ", to_string(preference_), "; active ", to_string(policy_.active()));
    return ControlReply::success({{"preference", to_string(preference_)}, {"active", to_string(policy_.active())}});
  }

  ComponentContext context_;
  Logger log_;
  config::Config config_;
  RoutingPlan plan_;
  UplinkStats stats_;
  std::array<PathCounters, 2> path_counters_{};
  std::array<UplinkHealth, 2> health_;
  FailoverPolicy policy_;
  Preference preference_ = Preference::automatic;
  std::unique_ptr<NetlinkRouting> netlink_;
  std::unique_ptr<NetlinkEvents> events_;
  std::unique_ptr<WireGuardTunnel> tunnel_;
  std::unique_ptr<UplinkMonitor> monitor_;
  asio::steady_timer reconcile_timer_;
  asio::steady_timer detect_timer_;
  asio::steady_timer provision_timer_;
  struct Provisioning {
    PrimaryRequest request;
    unsigned timeout_s;
    ControlResponder respond;  // set with --wait
  };
  std::optional<Provisioning> provision_;
  Json last_provision_ = Json::object();
  std::optional<std::pair<std::string, InterfaceAddress>> owned_address_;
  std::vector<DeviceSpec> owned_devices_;  // created by outpost, in creation order
  std::string device_error_;               // why the primary's device is missing, if it is
  asio::steady_timer housekeeping_;
  bool reconcile_pending_ = false;
  unsigned last_pending_ = 0;
  size_t last_errors_ = 0;
  std::set<std::string> logged_errors_;
  unsigned tunnel_wait_ = 0;
  std::deque<SwitchRecord> history_;
  std::vector<ControlRegistration> commands_;
  std::vector<GaugeCallbackHandle> gauges_;
  bool running_ = false;
};

}  // namespace

bool uplinks_configured(const config::Config& c) { return c.uplinks.primary.configured || c.uplinks.backup.configured; }

std::unique_ptr<Component> make_uplink_component(const ComponentContext& context, const config::Config& config) {
  return std::make_unique<UplinkManager>(context, config);
}

}  // namespace outpost::vpn
