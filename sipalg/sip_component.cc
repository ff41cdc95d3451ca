// The SIP component: builds transports, locator, binding table and proxy core from the
// config, persists registrations, and answers `show sip` / `show sip registrations`.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <algorithm>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "dns/dns.h"
#include "sipalg/bindings.h"
#include "sipalg/keepalive.h"
#include "sipalg/proxy_core.h"
#include "dataplane/media.h"
#include "sipalg/sdp.h"
#include "sipalg/sdp_rewrite.h"
#include "sipalg/server_locator.h"
#include "sipalg/sip_proxy.h"
#include "sipalg/stats.h"
#include "sipalg/transport.h"
#include "sipalg/ws_transport.h"

namespace outpost::sip {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

constexpr auto kHousekeeping = 30s;
constexpr auto kRelocate = 300s;
constexpr auto kBlacklist = 30s;
// Registration changes are written at most this often (one fsync per batch, not per REGISTER).
constexpr auto kPersistDelay = 1s;
// How often a SIP proxy started without an uplink address looks for one.
constexpr auto kUplinkRetry = 5s;

CoreSettings settings_from(const config::Config& c, const Identity& me) {
  CoreSettings s;
  s.me = me;
  s.client_subnets = c.lan.client_subnets;
  if (s.client_subnets.empty()) s.client_subnets.push_back(c.lan.address.network());
  s.vendor_prefixes = c.vendor.prefixes;
  s.rate_per_second = c.sip.rate_limit.per_second;
  s.rate_burst = c.sip.rate_limit.burst;
  s.device_expiry_s = c.sip.device_expiry_s;
  s.vendor_expiry_s = std::max(c.sip.vendor_expiry_s, c.sip.device_expiry_s);
  return s;
}

ConnectionLimits limits_from(const config::Sip& s) {
  ConnectionLimits l;
  l.handshake_timeout = std::chrono::seconds(s.tls_handshake_timeout_s);
  l.idle_timeout = std::chrono::seconds(s.tcp_idle_timeout_s);
  l.max_connections = s.max_connections;
  l.max_per_source = s.max_connections_per_source;
  return l;
}

// SIP over WSS needs a name for the passthrough to hand over and a certificate for it.
bool wss_configured(const config::Config& c) {
  return c.tls.enabled && !c.vendor.wss_fqdn.empty() && !c.tls.wss_certificate.empty() && !c.tls.wss_key.empty();
}

bool uses_uplink_tls(const config::Config& c) {
  return std::any_of(c.vendor.sip_servers.begin(), c.vendor.sip_servers.end(),
                     [](const config::SipServer& s) {
                       return s.transport == "tls" || s.transport == "wss" || s.transport == "auto";
                     });
}
// The port outpost's TLS/WSS connections to the vendor come from: its SIP TLS port.
uint16_t uplink_tls_source_port(const config::Config& c) { return c.sip.tls_port ? c.sip.tls_port : 5061; }

class SipComponent final : public SipProxy {
 public:
  SipComponent(const ComponentContext& context, const config::Config& config, std::shared_ptr<dns::UplinkResolver> uplink,
               std::shared_ptr<media::MediaRelay> media)
      : context_(context),
        media_(std::move(media)),
        log_(context.log_sink, "sip"),
        config_(config),
        counters_(context.metrics),
        transports_(context.io, log_.child("transport"), config.sip.max_message_bytes,
                    [this](const Flow& from, std::string_view bytes) { core_->on_message(from, bytes); },
                    [this](Side, const char* reason) { counters_.drop(reason); }),
        locator_(config.vendor.sip_servers, std::move(uplink), log_.child("locator"), kBlacklist),
        housekeeping_(context.io),
        relocate_(context.io),
        persist_timer_(context.io),
        cdr_sync_(context.io),
        uplink_retry_(context.io) {
    if (wss_configured(config)) wss_ = std::make_shared<WssAcceptor>();
    else if (!config.vendor.wss_fqdn.empty())
      log_.notice("no tls.wss_certificate/wss_key (or tls disabled): ", config.vendor.wss_fqdn,
                  " is passed through to the vendor, SIP over WSS is not terminated here");
  }

  ~SipComponent() override { stop(); }

  std::string_view name() const override { return "sip"; }
  std::shared_ptr<dataplane::WssHandler> wss_handler() const override { return wss_; }

  Result<void> start() override {
    Identity me;
    me.lan = config_.lan.address.address;
    me.lan_port = config_.sip.udp_port;
    me.uplink_port = config_.sip.udp_port;
    transports_.set_limits(limits_from(config_.sip));
    if (auto r = transports_.open(Side::lan, me.lan, config_.sip.udp_port, config_.sip.tcp_port); !r) return r;
    if (auto a = uplink_address()) {
      me.uplink = *a;
      if (auto r = transports_.open(Side::uplink, me.uplink, me.uplink_port, config_.sip.tcp_port); !r) {
        transports_.close();
        return r;
      }
    } else {
      // No primary uplink and no route to the vendor yet (a link still being provisioned):
      // serve the LAN now and open the vendor side as soon as a route appears, rather than
      // keep DNS and TLS down with us.
      log_.warn("no uplink address yet (no primary uplink, no route to the vendor): vendor-bound requests get "
                "503 until one appears; checking every ", kUplinkRetry.count(), " s");
      watch_uplink_ = true;
    }
    for (uint16_t port : config_.vendor.sip_extra_ports) {
      if (port == me.lan_port || std::find(me.lan_extra_ports.begin(), me.lan_extra_ports.end(), port) !=
                                     me.lan_extra_ports.end())
        continue;
      if (auto r = transports_.open_extra(Side::lan, me.lan, port); !r) {
        transports_.close();
        return r;
      }
      me.lan_extra_ports.push_back(port);
    }
    if (config_.sip.tls_port && !config_.sip.tls_certificate.empty() && !config_.sip.tls_key.empty()) {
      if (auto r = transports_.open_tls(Side::lan, me.lan, config_.sip.tls_port, config_.sip.tls_certificate,
                                        config_.sip.tls_key);
          !r) {
        transports_.close();
        return r;
      }
      me.lan_tls_port = config_.sip.tls_port;
    }
    if (uses_uplink_tls(config_)) {
      // The vendor over TLS or WSS: outpost is the client (see Transports::enable_uplink_tls).
      if (auto r = transports_.enable_uplink_tls(
              config_.sip.uplink_ca, config_.sip.uplink_verify, uplink_tls_source_port(config_),
              [this](const IpAddress& a) -> std::optional<PeerName> {
                auto t = locator_.server_at(a);
                if (!t) return std::nullopt;
                return PeerName{t->name, t->path};
              });
          !r) {
        transports_.close();
        return r;
      }
      me.uplink_tls_port = uplink_tls_source_port(config_);
      if (!config_.sip.uplink_verify)
        log_.warn("sip.uplink_verify is false: the vendor's TLS certificate is not checked");
    }
    if (wss_) {
      if (auto r = transports_.enable_wss(Side::lan, config_.tls.https_port, config_.tls.wss_certificate,
                                          config_.tls.wss_key);
          !r) {
        transports_.close();
        return r;
      }
      me.lan_wss_port = config_.tls.https_port;
      wss_->attach(&transports_);
    }
    me_ = me;
    state_file_ = config_.management.state_dir + "/sip-registrations.json";
    std::error_code fec;
    std::filesystem::create_directories(config_.management.state_dir, fec);
    if (auto r = bindings_.load(state_file_, now()); !r) log_.warn("registrations not restored: ", r.error().message);
    else if (!bindings_.registrations().empty())
      log_.notice("restored ", bindings_.registrations().size(), " registrations from ", state_file_);
    if (media_) {
      relay_sdp_ = std::make_unique<RelaySdp>(media_, me.lan, me.uplink, context_.metrics);
      sdp_ = relay_sdp_.get();
    } else {
      sdp_ = &pass_through_sdp_;
    }
    core_ = std::make_unique<ProxyCore>(context_.io, log_, counters_, transports_, locator_, bindings_, *sdp_,
                                        settings_from(config_, me));
    core_->on_bindings_changed = [this] { persist_soon(); };
    transports_.on_unreachable([this](const Flow& to) {
      if (core_) core_->on_unreachable(to);
    });
    keepalive_ = std::make_unique<KeepAlive>(context_.io, transports_, bindings_, counters_);
    keepalive_->start(std::chrono::seconds(config_.sip.keepalive_s), me);
    core_->set_keepalive(keepalive_.get());
    core_->dialogs().on_ended = [this](const Dialog& d) {
      write_call_record(d);  // first: it reads the call's media figures
      sdp_->release(d.call_id);
    };
    locator_.refresh();
    schedule();
    register_commands();
    running_ = true;
    if (watch_uplink_) watch_for_uplink();
    log_.notice("relaying SIP: LAN ", me.host_port(Side::lan), " (UDP+TCP", me.lan_tls_port ? ", TLS " : "",
                me.lan_tls_port ? std::to_string(me.lan_tls_port) : "", wss_ ? ", WSS " + config_.vendor.wss_fqdn + ":" : "",
                wss_ ? std::to_string(me.lan_wss_port) : "", ") <-> uplink ", uplink_text(),
                " (UDP+TCP), ", config_.vendor.sip_servers.size(), " vendor server entries");
    return {};
  }

  Result<void> reload(const config::Config& next) override {
    // Addresses, ports and vendor servers need a restart; trust lists, the rate limit and
    // the connection limits and timeouts change now (limits for the next accept).
    config_ = next;
    if (core_) core_->set_settings(settings_from(next, me_));
    transports_.set_limits(limits_from(next.sip));
    return {};
  }

  void stop() override {
    if (running_ && dirty_) persist();
    running_ = false;
    if (keepalive_) keepalive_->stop();
    uplink_retry_.cancel();
    housekeeping_.cancel();
    relocate_.cancel();
    persist_timer_.cancel();
    cdr_sync_.cancel();
    close_cdr();
    commands_.clear();
    gauges_.clear();
    if (wss_) wss_->attach(nullptr);
    transports_.close();
  }

  Json status() const override {
    return {{"state", running_ ? "running" : "stopped"},
            {"lan", me_.host_port(Side::lan)},
            {"uplink", uplink_text()},
            {"registrations", bindings_.registrations().size()},
            {"transactions", core_ ? core_->transactions() : 0}};
  }

 private:
  static int64_t now() { return static_cast<int64_t>(std::time(nullptr)); }

  std::string uplink_text() const { return watch_uplink_ ? "none (waiting for an address)" : me_.host_port(Side::uplink); }

  std::optional<IpAddress> uplink_address() const { return config::vendor_facing_address(config_); }

  void watch_for_uplink() {
    uplink_retry_.expires_after(kUplinkRetry);
    uplink_retry_.async_wait([this](boost::system::error_code ec) {
      if (ec || !running_) return;
      auto a = uplink_address();
      if (!a) return watch_for_uplink();
      if (auto r = transports_.open(Side::uplink, *a, me_.uplink_port, config_.sip.tcp_port); !r) {
        log_.warn("uplink side not opened on ", a->to_string(), ": ", r.error().message);
        return watch_for_uplink();
      }
      me_.uplink = *a;
      watch_uplink_ = false;
      if (relay_sdp_) relay_sdp_->set_uplink_address(*a);
      if (core_) core_->set_settings(settings_from(config_, me_));
      if (keepalive_) keepalive_->set_identity(me_);
      log_.notice("uplink address ", me_.host_port(Side::uplink), " appeared: relaying to the vendor");
    });
  }

  void persist() {
    dirty_ = false;
    if (auto r = bindings_.save(state_file_); !r) log_.warn("registrations not saved: ", r.error().message);
  }

  void persist_soon() {
    if (dirty_) return;  // a write is already scheduled
    dirty_ = true;
    persist_timer_.expires_after(kPersistDelay);
    persist_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec && running_ && dirty_) persist();
    });
  }

  // Call records: one CSV line per ended call in <cdr_dir>/calls-YYYY-MM-DD.csv (UTC day, so
  // files rotate daily; a header line starts each file). Each line is write(2)-n at once (a
  // killed daemon loses none) and fdatasync()-ed within a second (a power cut loses at most
  // that second).
  void write_call_record(const Dialog& d) {
    std::string line = call_record_csv(d, media_ ? media_->call_totals(d.call_id) : media::CallMediaTotals{});
    char day[16];
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::strftime(day, sizeof day, "%Y-%m-%d", &tm);
    if (cdr_fd_ < 0 || cdr_day_ != day) {
      close_cdr();
      std::error_code ec;
      std::filesystem::create_directories(config_.sip.cdr_dir, ec);
      std::string path = config_.sip.cdr_dir + "/calls-" + day + ".csv";
      cdr_fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
      if (cdr_fd_ < 0) {
        counters_.stats.call_records_lost.inc();
        return log_.warn("call record not written: cannot open ", path);
      }
      cdr_day_ = day;
      if (::lseek(cdr_fd_, 0, SEEK_END) == 0) line = call_record_csv_header() + line;
    }
    if (::write(cdr_fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      counters_.stats.call_records_lost.inc();
      return log_.warn("call record not written to ", config_.sip.cdr_dir);
    }
    counters_.stats.call_records.inc();
    if (cdr_dirty_) return;
    cdr_dirty_ = true;
    cdr_sync_.expires_after(1s);
    cdr_sync_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      cdr_dirty_ = false;
      if (cdr_fd_ >= 0) ::fdatasync(cdr_fd_);
    });
  }


  void close_cdr() {
    if (cdr_fd_ >= 0) ::fdatasync(cdr_fd_), ::close(cdr_fd_);
    cdr_fd_ = -1;
    cdr_dirty_ = false;
  }

  void schedule() {
    housekeeping_.expires_after(kHousekeeping);
    housekeeping_.async_wait([this](boost::system::error_code ec) {
      if (ec || !running_) return;
      if (bindings_.expire(now())) persist();
      if (core_) core_->expire(now());
      schedule();
    });
    relocate_.expires_after(kRelocate);
    relocate_.async_wait([this](boost::system::error_code ec) {
      if (ec || !running_) return;
      locator_.refresh();
    });
  }

  void register_commands() {
    auto& c = context_.control;
    commands_.push_back(c.add("show sip", "SIP proxy: transports, vendor servers, counters by method, response class "
                                          "and drop reason",
                              [this](const Json&) { return ControlReply::success(show()); }));
    commands_.push_back(c.add("show sip registrations",
                              "registered LAN devices: AOR, device contact, transport, source, expiry",
                              [this](const Json&) { return ControlReply::success({{"registrations", registrations()}}); }));
    commands_.push_back(c.add("show calls",
                              "SIP dialogs: parties, state, sides, start, duration, and each media stream's "
                              "relay ports, packets, loss, jitter and MOS",
                              [this](const Json&) {
                                Json calls = core_ ? core_->dialogs().to_json(now()) : Json::array();
                                for (auto& c : calls) c["media"] = media_ ? media_->call_media(c["call_id"]) : Json::array();
                                return ControlReply::success({{"calls", calls}});
                              }));
    auto& m = context_.metrics;
    gauges_.push_back(m.gauge_callback("outpost_sip_transactions", "Proxy transactions in memory", {},
                                       [this] { return core_ ? double(core_->transactions()) : 0.0; }));
    gauges_.push_back(m.gauge_callback("outpost_sip_registrations", "Registered device bindings", {},
                                       [this] { return double(bindings_.registrations().size()); }));
  }

  // The binding table with each UDP device's keep-alive state (null: not pinged, e.g. TCP/TLS).
  Json registrations() const {
    Json rows = bindings_.to_json(now());
    for (auto& row : rows) {
      std::string token = row["vendor_contact_user"].get<std::string>().substr(std::strlen(Bindings::kUserPrefix));
      row["keepalive"] = keepalive_ ? keepalive_->state(token, now()) : Json(nullptr);
    }
    return rows;
  }

  Json show() const {
    Json j = counters_.to_json();
    j["transports"] = transports_.status();
    j["connections"] = transports_.connection_status();
    j["servers"] = locator_.status(ServerLocator::Clock::now());
    j["registrations"] = bindings_.registrations().size();
    j["contact_tokens"] = bindings_.tokens();
    j["core"] = core_ ? core_->status() : Json::object();
    j["identity"] = {{"lan", me_.host_port(Side::lan)}, {"uplink", uplink_text()}};
    j["state_file"] = state_file_;
    j["cdr_dir"] = config_.sip.cdr_dir;
    j["keepalive_interval_s"] = config_.sip.keepalive_s;
    return j;
  }

  ComponentContext context_;
  std::shared_ptr<media::MediaRelay> media_;
  Logger log_;
  config::Config config_;
  SipCounters counters_;
  Transports transports_;
  ServerLocator locator_;
  Bindings bindings_;
  PassThroughSdp pass_through_sdp_;
  std::unique_ptr<RelaySdp> relay_sdp_;
  SdpRewriter* sdp_ = &pass_through_sdp_;  // the one of the two above in use
  std::unique_ptr<ProxyCore> core_;
  std::unique_ptr<KeepAlive> keepalive_;  // after transports_ and bindings_, which it uses
  std::shared_ptr<WssAcceptor> wss_;  // null: no SIP over WSS
  Identity me_;
  std::string state_file_;
  asio::steady_timer housekeeping_, relocate_, persist_timer_, cdr_sync_, uplink_retry_;
  bool watch_uplink_ = false;
  int cdr_fd_ = -1;
  std::string cdr_day_;
  bool cdr_dirty_ = false;
  bool dirty_ = false;
  std::vector<ControlRegistration> commands_;
  std::vector<GaugeCallbackHandle> gauges_;
  bool running_ = false;
};

}  // namespace

std::unique_ptr<SipProxy> make_sip_component(const ComponentContext& context, const config::Config& config,
                                              std::shared_ptr<dns::UplinkResolver> uplink,
                                              std::shared_ptr<media::MediaRelay> media) {
  return std::make_unique<SipComponent>(context, config, std::move(uplink), std::move(media));
}

}  // namespace outpost::sip
