#pragma once
// outpost's TLS passthrough, as the rest of the daemon sees it: a Component listening on
// the LAN address (tls.https_port, tls.http_port) that carries browsers' connections to
// the vendor's real hosts by SNI or Host, without decrypting them (`show tls`, metrics
// outpost_tls_*). See dataplane/README.md. Everything else in dataplane/ is private.
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/component.h"
#include "daemon/config_model.h"

namespace outpost::dns {
class UplinkResolver;
}

namespace outpost::dataplane {

// Takes over connections for vendor.wss_fqdn (the SIP WebSocket transport, which
// terminates TLS itself). Called on the daemon's io_context with the accepted socket and
// every byte already read from it (the ClientHello and anything after it), to be
// processed before reading further.
class WssHandler {
 public:
  virtual ~WssHandler() = default;
  virtual void accept(boost::asio::ip::tcp::socket socket, std::vector<uint8_t> first_bytes) = 0;
};

class TlsPassthrough : public Component {
 public:
  // A null handler (the default) passes vendor.wss_fqdn through like any vendor name.
  virtual void set_wss_handler(std::shared_ptr<WssHandler> handler) = 0;
};

// `uplink` resolves vendor names (vendor.resolvers over the uplink); without it every
// vendor connection fails with resolve_failed.
std::unique_ptr<TlsPassthrough> make_tls_component(const ComponentContext& context, const config::Config& config,
                                                   std::shared_ptr<dns::UplinkResolver> uplink);

}  // namespace outpost::dataplane
