// The DNS component: builds the query engine and listeners from the config, swaps them on
// reload, and answers `show dns` and `dns lookup`.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>

#include "dns/dns.h"
#include "dns/query_engine.h"
#include "dns/rr_text.h"
#include "dns/tcp_listener.h"
#include "dns/udp_listener.h"

namespace outpost::dns {
namespace {

namespace asio = boost::asio;

ResolverSettings lan_settings(const config::Dns& d) {
  ResolverSettings s;
  s.forwarders = d.forwarders;
  s.dnssec = d.dnssec;
  s.trust_anchor_file = d.trust_anchor_file;
  return s;
}

struct ListenerPair {
  std::shared_ptr<UdpListener> udp;
  std::shared_ptr<TcpListener> tcp;
  std::string key;  // "address:port"
};

class DnsComponent final : public Component {
 public:
  DnsComponent(const ComponentContext& context, const config::Config& config, std::shared_ptr<UplinkResolver> uplink)
      : context_(context),
        log_(context.log_sink, "dns"),
        config_(config),
        engine_(context.io, log_, context.metrics),
        uplink_(std::move(uplink)) {}

  ~DnsComponent() override { stop(); }

  std::string_view name() const override { return "dns"; }

  Result<void> start() override {
    auto policy = Policy::from_config(config_);
    if (!policy) return policy.error();
    engine_.set_policy(*policy);
    engine_.set_rate_limit(config_.dns.rate_limit.per_second, config_.dns.rate_limit.burst);
    if (auto r = engine_.set_upstream(lan_settings(config_.dns)); !r) return r;
    std::vector<ListenerPair> opened;
    if (auto r = open_listeners(config_, opened); !r) return r;
    listeners_ = std::move(opened);
    for (auto& l : listeners_) l.udp->start(), l.tcp->start();
    register_commands();
    register_gauges();
    log_.notice("answering on ", listen_text(), "; ", engine_.policy().rules().size(), " name rules; upstream ",
                lan_settings(config_.dns).describe());
    return {};
  }

  Result<void> reload(const config::Config& next) override {
    // Everything that can fail comes first, so a refused reload changes nothing.
    auto policy = Policy::from_config(next);
    if (!policy) return policy.error();
    std::vector<ListenerPair> kept, opened;
    if (auto r = open_listeners(next, opened, &kept); !r) return r;
    if (auto r = engine_.set_upstream(lan_settings(next.dns)); !r) {
      for (auto& l : opened) l.udp->close(), l.tcp->close();
      return r;
    }
    if (uplink_)
      if (auto r = uplink_->reload(next); !r) log_.warn("uplink resolver kept its old settings: ", r.error().message);
    engine_.set_policy(*policy);
    engine_.set_rate_limit(next.dns.rate_limit.per_second, next.dns.rate_limit.burst);
    for (auto& l : listeners_) {
      bool still = std::any_of(kept.begin(), kept.end(), [&](const ListenerPair& k) { return k.key == l.key; });
      if (!still) l.udp->close(), l.tcp->close();
    }
    for (auto& l : opened) l.udp->start(), l.tcp->start();
    kept.insert(kept.end(), opened.begin(), opened.end());
    listeners_ = std::move(kept);
    config_ = next;
    log_.notice("reloaded: ", engine_.policy().rules().size(), " name rules, listening on ", listen_text());
    return {};
  }

  void stop() override {
    for (auto& l : listeners_) l.udp->close(), l.tcp->close();
    listeners_.clear();
    commands_.clear();
    gauges_.clear();
    engine_.stop();
  }

  Json status() const override {
    const auto& s = engine_.counters().stats;
    return {{"state", listeners_.empty() ? "stopped" : "running"},
            {"listen", listen_text()},
            {"rules", engine_.policy().rules().size()},
            {"queries", s.queries.value()},
            {"rewritten", s.rewritten.value()},
            {"forwarded", s.forwarded.value()},
            {"upstream", engine_.resolver().health().state()}};
  }

 private:
  // Opens what `next` asks for and is not open yet; with `kept`, the ones already open that
  // stay. Without `kept` every listener is new.
  Result<void> open_listeners(const config::Config& next, std::vector<ListenerPair>& opened,
                              std::vector<ListenerPair>* kept = nullptr) {
    std::vector<IpAddress> addresses = next.dns.listen;
    if (addresses.empty()) addresses.push_back(next.lan.address.address);
    if (!next.dns.enabled) addresses.clear();
    for (const auto& a : addresses) {
      std::string key = Endpoint{a, next.dns.port}.to_string();
      if (kept) {
        auto it = std::find_if(listeners_.begin(), listeners_.end(), [&](const ListenerPair& l) { return l.key == key; });
        if (it != listeners_.end()) {
          kept->push_back(*it);
          continue;
        }
      }
      auto udp = UdpListener::open(context_.io, asio::ip::udp::endpoint(a, next.dns.port), engine_, log_.child("udp"));
      auto tcp = udp ? TcpListener::open(context_.io, asio::ip::tcp::endpoint(a, next.dns.port), engine_,
                                         log_.child("tcp"))
                     : Result<std::shared_ptr<TcpListener>>(udp.error());
      if (!udp || !tcp) {
        if (udp) (*udp)->close();
        for (auto& l : opened) l.udp->close(), l.tcp->close();
        opened.clear();
        return udp ? tcp.error() : udp.error();
      }
      opened.push_back({*udp, *tcp, key});
    }
    return {};
  }

  std::string listen_text() const {
    std::string out;
    for (const auto& l : listeners_) out += (out.empty() ? "" : ", ") + l.key;
    return out.empty() ? "nothing" : out + " (UDP+TCP)";
  }

  void register_gauges() {
    auto& m = context_.metrics;
    gauges_.push_back(m.gauge_callback("outpost_dns_cache_entries", "Answers in the front-end answer cache", {},
                                       [this] { return double(engine_.cache().entries()); }));
    gauges_.push_back(m.gauge_callback("outpost_dns_cache_bytes", "Memory held by the answer cache (approximate)",
                                       {}, [this] { return double(engine_.cache().bytes()); }));
    gauges_.push_back(m.gauge_callback("outpost_dns_cache_hit_ratio",
                                       "Answer-cache hits / (hits + misses) since start", {}, [this] {
                                         const auto& s = engine_.counters().stats;
                                         double h = double(s.cache_hits.value()), n = h + double(s.cache_misses.value());
                                         return n > 0 ? h / n : 0.0;
                                       }));
    gauges_.push_back(m.gauge_callback("outpost_dns_rules", "Vendor and override name rules in force", {},
                                       [this] { return double(engine_.policy().rules().size()); }));
    gauges_.push_back(m.gauge_callback("outpost_dns_rate_limited_clients_tracked",
                                       "Clients the rate limiter currently tracks", {},
                                       [this] { return double(engine_.limiter().tracked()); }));
  }

  void register_commands() {
    auto& c = context_.control;
    commands_.push_back(c.add("show dns", "DNS counters, cache, upstream health, listeners and name rules",
                              [this](const Json&) { return ControlReply::success(show()); }));
    commands_.push_back(c.add_async("dns lookup",
                                    "what a LAN client would get for NAME: dns lookup NAME [--type T] [--client IP] "
                                    "[--uplink]",
                                    [this](const Json& args, ControlResponder respond) { lookup(args, respond); }));
  }

  Json show() const {
    const auto& counters = engine_.counters();
    const auto& s = counters.stats;
    Json listeners = Json::array();
    for (const auto& l : listeners_) listeners.push_back(l.udp->status()), listeners.push_back(l.tcp->status());
    Json rules = Json::array();
    for (const auto& r : engine_.policy().rules().rules())
      rules.push_back({{"pattern", r->pattern()},
                       {"kind", r->is_wildcard() ? "wildcard" : "exact"},
                       {"answer", r->target().to_string()},
                       {"origin", r->origin()},
                       {"hits", r->hits()},
                       {"rule", r->to_string()}});
    double hits = double(s.cache_hits.value()), lookups = hits + double(s.cache_misses.value());
    Json subnets = Json::array();
    for (const auto& p : engine_.policy().client_subnets()) subnets.push_back(p.to_string());
    const auto& rl = engine_.limiter();
    return {
        {"listeners", listeners},
        {"counters", counters.to_json()},
        {"cache",
         {{"entries", engine_.cache().entries()},
          {"bytes", engine_.cache().bytes()},
          {"hits", s.cache_hits.value()},
          {"misses", s.cache_misses.value()},
          {"hit_rate", lookups > 0 ? hits / lookups : 0.0},
          {"note",
           "outpost's answer cache in front of libunbound (whose own cache has no API); libunbound answers "
           "under 1 ms (upstream.answers_by_latency.lt1ms) are, in practice, its cache hits"}}},
        {"upstream", engine_.resolver().status()},
        {"uplink", uplink_ ? uplink_->status() : Json(nullptr)},
        {"rate_limit",
         {{"per_second", rl.per_second()}, {"burst", rl.burst()}, {"clients_tracked", rl.tracked()}}},
        {"client_subnets", subnets},
        {"ttl", engine_.policy().ttl()},
        {"rules", rules},
    };
  }

  IpAddress default_client() const {
    for (const auto& p : engine_.policy().client_subnets())
      if (p.address.is_v4())
        return asio::ip::address_v4(p.address.to_v4().to_uint() + (p.length < 32 ? 1u : 0u));
    return config_.lan.address.address;
  }

  void lookup(const Json& args, const ControlResponder& respond) {
    const Json positional = args.value("args", Json::array());
    if (!positional.is_array() || positional.size() != 1 || !positional[0].is_string())
      return respond(ControlReply::usage("usage: dns lookup NAME [--type T] [--client IP] [--uplink]"));
    auto name = WireName::from_text(positional[0].get<std::string>());
    if (!name) return respond(ControlReply::usage("not a DNS name: " + positional[0].get<std::string>()));
    uint16_t type = qtype::A;
    if (args.contains("type")) {
      auto t = args["type"].is_string() ? parse_type(args["type"].get<std::string>()) : std::nullopt;
      if (!t) return respond(ControlReply::usage("unknown --type (A, AAAA, HTTPS, TYPE65 ...)"));
      type = *t;
    }
    IpAddress client = default_client();
    if (args.contains("client")) {
      auto a = args["client"].is_string() ? parse_address(args["client"].get<std::string>()) : std::nullopt;
      if (!a) return respond(ControlReply::usage("--client needs an IP address"));
      client = *a;
    }
    if (args.value("uplink", false)) return lookup_uplink(name->to_text(), type, respond);
    Json head = {{"name", name->to_text()}, {"type", type_text(type)}, {"client", client.to_string()}};
    engine_.lookup(*name, type, client, [head, respond](LookupReport r) {
      Json j = head;
      j["verdict"] = r.verdict;
      j["reason"] = r.reason;
      j["rule"] = r.rule.empty() ? Json(nullptr) : Json(r.rule);
      j["rate_limited_now"] = r.rate_limited_now;
      j["from_cache"] = r.from_cache;
      j["forwarded"] = r.forwarded;
      if (r.forwarded) {
        j["upstream_rewritten"] = r.upstream_rewritten;
        j["hints_stripped"] = r.hints_stripped;
        j["records_dropped"] = r.records_dropped;
      }
      if (r.reply.empty()) {
        j["rcode"] = "(no reply: dropped)";
      } else {
        Json m = message_json(r.reply);
        for (auto it = m.begin(); it != m.end(); ++it) j[it.key()] = it.value();
      }
      respond(ControlReply::success(j));
    });
  }

  void lookup_uplink(const std::string& name, uint16_t type, const ControlResponder& respond) {
    if (!uplink_) return respond(ControlReply::failure("no uplink resolver (vendor.resolvers)"));
    uplink_->resolve(name, type, [name, type, respond](Result<UplinkAnswer> a) {
      if (!a) return respond(ControlReply::failure(a.error().message));
      Json addrs = Json::array();
      for (const auto& x : a->addresses) addrs.push_back(x.to_string());
      respond(ControlReply::success({{"name", name},
                                     {"type", type_text(type)},
                                     {"resolver", "uplink (vendor.resolvers)"},
                                     {"rcode", rcode_text(a->rcode)},
                                     {"ttl", a->ttl},
                                     {"secure", a->secure},
                                     {"canonical_name", a->canonical_name},
                                     {"addresses", addrs},
                                     {"records", a->rdata.size()}}));
    });
  }

  ComponentContext context_;
  Logger log_;
  config::Config config_;
  QueryEngine engine_;
  std::shared_ptr<UplinkResolver> uplink_;
  std::vector<ListenerPair> listeners_;
  std::vector<ControlRegistration> commands_;
  std::vector<GaugeCallbackHandle> gauges_;
};

}  // namespace

std::unique_ptr<Component> make_dns_component(const ComponentContext& context, const config::Config& config,
                                              std::shared_ptr<UplinkResolver> uplink) {
  return std::make_unique<DnsComponent>(context, config, std::move(uplink));
}

}  // namespace outpost::dns
