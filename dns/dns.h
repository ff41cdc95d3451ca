#pragma once
// outpost's DNS, as the rest of the daemon sees it:
//  - the split-horizon answerer for the LAN, a Component built from the config;
//  - the uplink resolver, through which outpost itself (the SIP and TLS proxies) finds the
//    vendor's real addresses by asking the vendor's resolvers (vendor.resolvers) over the
//    uplink. It never sees the LAN rewrite.
// Everything else in dns/ is private to the folder (see dns/README.md for the map).
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/component.h"
#include "common/net.h"
#include "common/result.h"
#include "daemon/config_model.h"

namespace outpost::dns {

class Resolver;

// What the vendor's resolvers said. Never rewritten.
struct UplinkAnswer {
  unsigned rcode = 0;     // 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, ...
  bool secure = false;    // DNSSEC-validated (only with dns.dnssec)
  uint32_t ttl = 0;       // of the answer, or the negative TTL
  std::string canonical_name;          // the name after CNAMEs ("" if none)
  std::vector<IpAddress> addresses;    // for A and AAAA questions
  std::vector<std::vector<uint8_t>> rdata;  // raw RDATA of each answer record (SRV, NAPTR, ...)
};

class UplinkResolver {
 public:
  using Callback = std::function<void(Result<UplinkAnswer>)>;

  // A libunbound context that forwards to vendor.resolvers (full recursion if the profile
  // lists none), on the daemon's io_context.
  static Result<std::shared_ptr<UplinkResolver>> create(boost::asio::io_context& io, LogSink& log,
                                                        MetricsRegistry& metrics, const config::Config& config);
  ~UplinkResolver();

  // Runs `callback` once, later, on the io_context; never if the resolver is destroyed first.
  // qtype: 1 A, 28 AAAA, 33 SRV, 35 NAPTR, ...
  void resolve(const std::string& name, uint16_t qtype, Callback callback);
  // New resolvers take effect for new queries; queries in flight finish on the old ones.
  Result<void> reload(const config::Config& config);
  nlohmann::json status() const;

  explicit UplinkResolver(std::unique_ptr<Resolver> resolver);

 private:
  std::unique_ptr<Resolver> resolver_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// The LAN DNS component (`show dns`, `dns lookup`, metrics outpost_dns_*). `uplink` may be
// null; when given, `show dns` reports it, `dns lookup --uplink` uses it, and reloads
// reconfigure it.
std::unique_ptr<Component> make_dns_component(const ComponentContext& context, const config::Config& config,
                                              std::shared_ptr<UplinkResolver> uplink);

}  // namespace outpost::dns
