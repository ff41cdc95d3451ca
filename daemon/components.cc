#include "daemon/components.h"

#include "dataplane/media.h"
#include "dataplane/tls.h"
#include "dns/dns.h"
#include "sipalg/sip_proxy.h"
#include "vpn/uplinks.h"

namespace outpost {
namespace {

// The media relay is a component (start, reload, stop, `show media`) that the SIP proxy
// also holds: the daemon owns it through this, the SIP proxy through its shared_ptr.
class SharedComponent final : public Component {
 public:
  explicit SharedComponent(std::shared_ptr<Component> c) : c_(std::move(c)) {}
  std::string_view name() const override { return c_->name(); }
  Result<void> start() override { return c_->start(); }
  Result<void> reload(const config::Config& config) override { return c_->reload(config); }
  void stop() override { c_->stop(); }
  Json status() const override { return c_->status(); }

 private:
  std::shared_ptr<Component> c_;
};

}  // namespace

std::vector<std::unique_ptr<Component>> build_components(const ComponentContext& context,
                                                         const config::Config& config) {
  std::vector<std::unique_ptr<Component>> out;
  // Components register here as they land (dns, sipalg, dataplane, vpn).
  // The uplink resolver (vendor.resolvers) is for outpost's own look-ups, made once and
  // shared: the DNS component reports and reloads it, the TLS passthrough resolves vendor
  // names with it.
  std::shared_ptr<dns::UplinkResolver> uplink;
  if (auto u = dns::UplinkResolver::create(context.io, context.log_sink, context.metrics, config)) uplink = *u;
  else Logger(context.log_sink, "dns").err("uplink resolver: ", u.error().message);
  // Uplinks first: the vendor routes exist before anything talks to the vendor.
  if (vpn::uplinks_configured(config)) out.push_back(vpn::make_uplink_component(context, config));
  if (config.dns.enabled) out.push_back(dns::make_dns_component(context, config, uplink));
  dataplane::TlsPassthrough* tls = nullptr;
  if (config.tls.enabled) {
    auto t = dataplane::make_tls_component(context, config, uplink);
    tls = t.get();
    out.push_back(std::move(t));
  }
  if (config.sip.enabled) {
    // Media before SIP: the relay takes offers from the first SDP the proxy rewrites.
    auto relay = media::make_media_relay(context, config);
    out.push_back(std::make_unique<SharedComponent>(relay));
    auto sip = sip::make_sip_component(context, config, uplink, relay);
    // The passthrough on :443 hands vendor.wss_fqdn to the SIP proxy (SIP over WSS).
    if (tls)
      if (auto wss = sip->wss_handler()) tls->set_wss_handler(std::move(wss));
    out.push_back(std::move(sip));
  }
  return out;
}

}  // namespace outpost
