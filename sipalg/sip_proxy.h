#pragma once
// outpost's SIP application proxy, as the daemon sees it: a Component built from the
// config (lan, vendor.sip_servers, sip section, management.state_dir) that relays SIP
// between the LAN's devices and the vendor's servers, hiding each side's topology from
// the other, and sends every SDP body through the media relay. Commands: `show sip`,
// `show sip registrations`, `show calls`; metrics outpost_sip_*.
// Everything else in sipalg/ is private to the folder (see sipalg/README.md).
#include <memory>

#include "common/component.h"
#include "daemon/config_model.h"

namespace outpost::dns {
class UplinkResolver;
}
namespace outpost::media {
class MediaRelay;
}
namespace outpost::dataplane {
class WssHandler;
}

namespace outpost::sip {

class SipProxy : public Component {
 public:
  // SIP over WSS (RFC 7118): what the TLS passthrough hands vendor.wss_fqdn's connections
  // to. Null when no WSS name or no tls.wss_certificate/wss_key is configured (the name is
  // then passed through like any vendor name). Valid before start().
  virtual std::shared_ptr<dataplane::WssHandler> wss_handler() const = 0;
};

// `uplink` locates the vendor's servers (RFC 3263); may be null when every sip_servers
// entry is an IP address. `media` relays the streams whose SDP the proxy rewrites; null:
// SDP passes unchanged (tests of signalling alone).
std::unique_ptr<SipProxy> make_sip_component(const ComponentContext& context, const config::Config& config,
                                              std::shared_ptr<dns::UplinkResolver> uplink,
                                              std::shared_ptr<media::MediaRelay> media = nullptr);

}  // namespace outpost::sip
