// The media relay component: port ranges, the session table keyed by (Call-ID, m= index),
// the media timeout sweep, `show media`, the metrics. Each stream's packets are handled by
// its MediaSession (media_session.h).
#include <boost/asio/steady_timer.hpp>
#include <map>

#include "dataplane/media.h"
#include "dataplane/media_parking.h"
#include "dataplane/media_port_allocator.h"
#include "dataplane/media_session.h"

namespace outpost::media {
namespace {

namespace asio = boost::asio;

constexpr std::chrono::seconds kSweepInterval{1};
constexpr unsigned kBindAttempts = 16;  // pairs tried when a port is taken by another program
// A finished stream's sockets are re-used no sooner than this (late packets of its call have
// stopped) and closed, their ports freed, when no stream took them for this long.
constexpr int64_t kQuarantineNs = 2'000'000'000;
constexpr int64_t kParkedMaxAgeNs = 60'000'000'000;

std::vector<Prefix> lan_sources(const config::Config& c) {
  if (!c.lan.client_subnets.empty()) return c.lan.client_subnets;
  return {c.lan.address.network()};
}

class MediaRelayComponent final : public MediaRelay {
 public:
  MediaRelayComponent(const ComponentContext& context, const config::Config& config, MediaEngine engine)
      : context_(context),
        config_(config),
        relay_(std::make_shared<RelayContext>(context.io, context.metrics, Logger(context.log_sink, "media"), engine,
                                              std::chrono::microseconds(config.media.coalesce_us))),
        lan_ports_(config.media.lan_ports),
        uplink_ports_(config.media.uplink_ports),
        parked_(ParkingLimits{config.media.parked_streams, kQuarantineNs, kParkedMaxAgeNs}),
        sweep_(context.io) {
    apply(config);
  }
  ~MediaRelayComponent() override { stop(); }

  std::string_view name() const override { return "media"; }

  Result<void> start() override {
    running_ = true;
    commands_.push_back(context_.control.add(
        "show media", "media relay: streams, ports in use and free per range, counters, drops by reason",
        [this](const Json&) { return ControlReply::success(summary()); }));
    commands_.push_back(context_.control.add("show media sessions",
                                             "media relay: every stream with its legs, peers, latching and quality",
                                             [this](const Json&) { return ControlReply::success(sessions_json()); }));
    gauges_.push_back(context_.metrics.gauge_callback("outpost_media_sessions", "streams relayed now", {},
                                                      [this] { return double(stream_count()); }));
    const std::pair<const char*, const PortAllocator*> ranges[] = {{"lan", &lan_ports_}, {"uplink", &uplink_ports_}};
    for (const auto& [range, ports] : ranges) {
      gauges_.push_back(context_.metrics.gauge_callback("outpost_media_ports", "media ports by range and state",
                                                        {{"range", range}, {"state", "in_use"}},
                                                        [this, p = ports] { return 2.0 * pairs_streaming(*p); }));
      gauges_.push_back(context_.metrics.gauge_callback("outpost_media_ports", "media ports by range and state",
                                                        {{"range", range}, {"state", "parked"}},
                                                        [this] { return 2.0 * parked_.size(); }));
      gauges_.push_back(context_.metrics.gauge_callback("outpost_media_ports", "media ports by range and state",
                                                        {{"range", range}, {"state", "free"}},
                                                        [p = ports] { return 2.0 * p->pairs_free(); }));
    }
    sweep();
    relay_->log.notice("relaying media: LAN ", config_.lan.address.address.to_string(), " ports ",
                       lan_ports_.range().to_string(), ", uplink ports ", uplink_ports_.range().to_string(),
                       "; timeout ", config_.media.timeout_s, " s, latch after ", relay_->latch_packets,
                       " packets; engine ", relay_->engine_name(), ", coalescing ",
                       relay_->coalesce_us(), " us");
    return {};
  }

  Result<void> reload(const config::Config& next) override {
    if (next.media.lan_ports.first != config_.media.lan_ports.first ||
        next.media.lan_ports.last != config_.media.lan_ports.last ||
        next.media.uplink_ports.first != config_.media.uplink_ports.first ||
        next.media.uplink_ports.last != config_.media.uplink_ports.last)
      relay_->log.notice("media port ranges changed: they apply after a restart; still using LAN ",
                         lan_ports_.range().to_string(), ", uplink ", uplink_ports_.range().to_string());
    if (next.media.engine != config_.media.engine || next.media.coalesce_us != config_.media.coalesce_us)
      relay_->log.notice("media engine or coalesce_us changed: they apply after a restart; still using ",
                         relay_->engine_name(), ", coalescing ",
                         relay_->coalesce_us(), " us");
    const bool addresses_changed = next.lan.address.address != config_.lan.address.address ||
                                   next.uplinks.primary.configured != config_.uplinks.primary.configured ||
                                   next.uplinks.primary.address.address != config_.uplinks.primary.address.address;
    config_ = next;
    apply(next);
    if (addresses_changed) uplink_address_.reset();  // new streams use the new addresses
    parked_.set_max_parked(next.media.parked_streams);
    while (auto out = parked_.over_limit()) close_sockets(std::move(*out));
    relay_->log.notice("reloaded: timeout ", next.media.timeout_s, " s, latch after ", relay_->latch_packets,
                       " packets");
    return {};
  }

  void stop() override {
    running_ = false;
    sweep_.cancel();
    commands_.clear();
    gauges_.clear();
    for (auto& [call_id, streams] : calls_)
      for (auto& [index, session] : streams) free_session(*session);
    calls_.clear();
    for (auto& sockets : parked_.clear()) close_sockets(std::move(sockets));
    relay_->poller.stop();
    if (relay_->ring) relay_->ring->stop();
  }

  Json status() const override {
    return {{"state", running_ ? "running" : "stopped"},
            {"engine", relay_->engine_name()},
            {"streams", stream_count()},
            {"packets_to_vendor", relay_->stats.packets_to_vendor.value()},
            {"packets_to_lan", relay_->stats.packets_to_lan.value()}};
  }

  Result<StreamPorts> offer(const StreamOffer& offer) override {
    relay_->stats.offers.inc();
    auto& streams = calls_[offer.call_id];
    auto it = streams.find(offer.index);
    if (it == streams.end()) {
      auto opened = open_stream(offer);
      if (!opened) {
        if (streams.empty()) calls_.erase(offer.call_id);
        relay_->stats.offers_failed.inc();
        relay_->bad_input.warn("call ", offer.call_id, " stream ", offer.index, ": ", opened.error().message);
        return opened.error();
      }
      it = streams.emplace(offer.index, std::move(*opened)).first;
      relay_->stats.streams_opened.inc();
    }
    it->second->set_peer(offer.from, offer.rtp, offer.rtcp, offer.rtcp_mux);
    it->second->add_clock_rates(offer.clock_rates);
    return it->second->ports();
  }

  void release(const std::string& call_id) override {
    auto it = calls_.find(call_id);
    if (it == calls_.end()) return;
    for (auto& [index, session] : it->second) {
      free_session(*session);
      relay_->stats.streams_released.inc();
    }
    calls_.erase(it);
  }

  CallMediaTotals call_totals(const std::string& call_id) const override {
    CallMediaTotals t;
    auto it = calls_.find(call_id);
    if (it == calls_.end()) return t;
    for (const auto& [index, session] : it->second) {
      ++t.streams;
      const DirectionFigures& v = session->to_vendor();
      const DirectionFigures& l = session->to_lan();
      t.packets_to_vendor += v.packets;
      t.packets_to_lan += l.packets;
      t.lost_to_vendor += v.sources.lost();
      t.lost_to_lan += l.sources.lost();
      for (const DirectionFigures* d : {&v, &l}) {
        t.jitter_ms_max = std::max(t.jitter_ms_max, round2(d->sources.worst_jitter_ms()));
        if (auto mos = d->sources.worst_mos()) t.mos_min = std::min(t.mos_min.value_or(5.0), round2(*mos));
      }
    }
    return t;
  }

  nlohmann::json call_media(const std::string& call_id) const override {
    nlohmann::json out = nlohmann::json::array();
    auto it = calls_.find(call_id);
    if (it == calls_.end()) return out;
    for (const auto& [index, session] : it->second) out.push_back(session->to_json());
    return out;
  }

 private:
  void apply(const config::Config& c) {
    relay_->latch_packets = std::max(c.media.latch_packets, 1u);
    relay_->lan_sources = lan_sources(c);
    relay_->uplink_sources = c.vendor.prefixes;
  }

  Result<IpAddress> uplink_address() {
    if (!uplink_address_) uplink_address_ = config::vendor_facing_address(config_);
    if (!uplink_address_) return make_error("no uplink address yet (no route toward the vendor prefixes)");
    return *uplink_address_;
  }

  Result<std::shared_ptr<MediaSession>> open_stream(const StreamOffer& offer) {
    auto uplink = uplink_address();
    if (!uplink) return uplink.error();
    const IpAddress lan = config_.lan.address.address;
    if (auto reused = reuse_parked(offer, lan, *uplink, false)) return reused;
    std::string last_error = "no free ports";
    for (unsigned attempt = 0; attempt < kBindAttempts; ++attempt) {
      auto lan_port = lan_ports_.allocate();
      auto uplink_port = lan_port ? uplink_ports_.allocate() : std::nullopt;
      if (!lan_port || !uplink_port) {
        if (lan_port) lan_ports_.release(*lan_port);
        // A range is full: the oldest parked stream is taken, quarantine or not.
        if (auto reused = reuse_parked(offer, lan, *uplink, true)) return reused;
        const PortAllocator& full = lan_port ? uplink_ports_ : lan_ports_;
        if (full.pairs_free()) continue;  // parked sockets on an old address were closed
        return make_error(std::string("no free ") + (lan_port ? "uplink" : "LAN") + " media ports in " +
                          full.range().to_string());
      }
      StreamPorts ports{{lan, *lan_port},
                        {lan, uint16_t(*lan_port + 1)},
                        {*uplink, *uplink_port},
                        {*uplink, uint16_t(*uplink_port + 1)}};
      auto sockets = std::make_unique<StreamSockets>(relay_, ports);
      if (auto r = sockets->open(); !r) {
        // Taken by another program: give the pair back (the round robin moves past it) and
        // try the next one.
        lan_ports_.release(*lan_port);
        uplink_ports_.release(*uplink_port);
        last_error = r.error().message;
        continue;
      }
      return std::make_shared<MediaSession>(relay_, offer.call_id, offer.index, std::move(sockets));
    }
    return make_error(last_error);
  }

  // A parked stream's sockets for this offer: the one parked longest, once its quarantine is
  // over, or at once when the ranges are full (`any`). Null: none.
  std::shared_ptr<MediaSession> reuse_parked(const StreamOffer& offer, const IpAddress& lan, const IpAddress& uplink,
                                             bool any) {
    while (auto parked = any ? parked_.take_any() : parked_.take(steady_now_ns())) {
      // Bound before a reload or failover moved an address: not for this stream.
      if ((*parked)->ports().lan_rtp.address != lan || (*parked)->ports().uplink_rtp.address != uplink) {
        close_sockets(std::move(*parked));
        continue;
      }
      relay_->stats.streams_reused.inc();
      return std::make_shared<MediaSession>(relay_, offer.call_id, offer.index, std::move(*parked));
    }
    return nullptr;
  }

  // The stream's relaying stops at once; its sockets wait, parked, for a later stream.
  void free_session(MediaSession& s) {
    auto sockets = s.take_sockets();
    if (!sockets) return;
    if (auto out = parked_.park(std::move(sockets), steady_now_ns())) close_sockets(std::move(*out));
  }

  void close_sockets(std::unique_ptr<StreamSockets> sockets) {
    const StreamPorts ports = sockets->ports();
    sockets.reset();
    lan_ports_.release(ports.lan_rtp.port);
    uplink_ports_.release(ports.uplink_rtp.port);
  }

  // Every second: streams silent both ways for media.timeout_s are closed (a BYE lost, a
  // phone unplugged) so their ports come back.
  void sweep() {
    sweep_.expires_after(kSweepInterval);
    sweep_.async_wait([this](boost::system::error_code ec) {
      if (ec || !running_) return;
      const int64_t limit = steady_now_ns() - int64_t(config_.media.timeout_s) * 1'000'000'000;
      for (auto call = calls_.begin(); call != calls_.end();) {
        auto& streams = call->second;
        for (auto s = streams.begin(); s != streams.end();) {
          if (s->second->last_activity_ns() >= limit) {
            ++s;
            continue;
          }
          relay_->log.info("call ", call->first, " stream ", s->first, ": no media for ", config_.media.timeout_s,
                           " s, ports freed");
          free_session(*s->second);
          relay_->stats.streams_timed_out.inc();
          s = streams.erase(s);
        }
        call = streams.empty() ? calls_.erase(call) : std::next(call);
      }
      while (auto parked = parked_.expire(steady_now_ns())) close_sockets(std::move(*parked));
      sweep();
    });
  }

  size_t stream_count() const {
    size_t n = 0;
    for (const auto& [call_id, streams] : calls_) n += streams.size();
    return n;
  }

  // Pairs of a range that streams use now: every parked stream holds one pair in each range.
  size_t pairs_streaming(const PortAllocator& p) const { return p.pairs_in_use() - parked_.size(); }

  Json range_json(const PortAllocator& p) const {
    return {{"range", p.range().to_string()},
            {"in_use", 2 * pairs_streaming(p)},
            {"parked", 2 * parked_.size()},
            {"free", 2 * p.pairs_free()}};
  }

  Json summary() const {
    return {{"engine", relay_->engine_name()},
            {"coalesce_us", relay_->coalesce_us()},
            {"calls", calls_.size()},
            {"streams", stream_count()},
            {"ports", {{"lan", range_json(lan_ports_)}, {"uplink", range_json(uplink_ports_)}}},
            {"timeout_s", config_.media.timeout_s},
            {"parked_streams", {{"now", parked_.size()}, {"max", parked_.limits().max_parked}}},
            {"latch_packets", relay_->latch_packets},
            {"counters", relay_->stats.to_json()},
            {"dropped", relay_->drops.to_json()}};
  }

  Json sessions_json() const {
    Json out = Json::array();
    for (const auto& [call_id, streams] : calls_)
      for (const auto& [index, session] : streams) {
        Json s = session->to_json();
        s["call_id"] = call_id;
        out.push_back(std::move(s));
      }
    return {{"streams", out}};
  }

  ComponentContext context_;
  config::Config config_;
  std::shared_ptr<RelayContext> relay_;
  PortAllocator lan_ports_;
  PortAllocator uplink_ports_;
  Parking<std::unique_ptr<StreamSockets>> parked_;  // finished streams' sockets, ports still held
  std::map<std::string, std::map<unsigned, std::shared_ptr<MediaSession>>> calls_;
  std::optional<IpAddress> uplink_address_;
  asio::steady_timer sweep_;
  bool running_ = false;
  std::vector<ControlRegistration> commands_;
  std::vector<GaugeCallbackHandle> gauges_;
};

}  // namespace

std::shared_ptr<MediaRelay> make_media_relay(const ComponentContext& context, const config::Config& config,
                                             std::optional<MediaEngine> engine) {
  const MediaEngine chosen = engine ? *engine : config.media.engine == "io_uring" ? MediaEngine::io_uring : MediaEngine::epoll;
  return std::make_shared<MediaRelayComponent>(context, config, chosen);
}

}  // namespace outpost::media
