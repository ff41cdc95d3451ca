#include "daemon/components.h"

#include "dataplane/tls.h"
#include "dns/dns.h"
#include "sipalg/sip_proxy.h"
#include "vpn/uplinks.h"

namespace outpost {

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
  if (config.tls.enabled) out.push_back(dataplane::make_tls_component(context, config, uplink));
  if (config.sip.enabled) out.push_back(sip::make_sip_component(context, config, uplink));
  return out;
}

}  // namespace outpost
