#include <unbound.h>

#include <boost/asio/post.hpp>

#include "dns/dns.h"
#include "dns/resolver.h"
#include "dns/wire.h"

namespace outpost::dns {
namespace {

ResolverSettings uplink_settings(const config::Config& c) {
  ResolverSettings s;
  s.forwarders = c.vendor.resolvers;
  s.dnssec = c.dns.dnssec;
  s.trust_anchor_file = c.dns.trust_anchor_file;
  return s;
}

UplinkAnswer convert(const ub_result& r) {
  UplinkAnswer a;
  a.rcode = static_cast<unsigned>(r.rcode);
  a.secure = r.secure != 0;
  a.ttl = r.ttl > 0 ? static_cast<uint32_t>(r.ttl) : 0;
  if (r.canonname && r.qname && std::string_view(r.canonname) != r.qname) a.canonical_name = r.canonname;
  for (int i = 0; r.havedata && r.data && r.data[i]; ++i) {
    const auto* p = reinterpret_cast<const uint8_t*>(r.data[i]);
    size_t len = static_cast<size_t>(r.len[i]);
    a.rdata.emplace_back(p, p + len);
    if (r.qtype == qtype::A && len == 4) {
      a.addresses.push_back(boost::asio::ip::address_v4({p[0], p[1], p[2], p[3]}));
    } else if (r.qtype == qtype::AAAA && len == 16) {
      boost::asio::ip::address_v6::bytes_type b;
      std::copy_n(p, 16, b.begin());
      a.addresses.push_back(boost::asio::ip::address_v6(b));
    }
  }
  return a;
}

}  // namespace

UplinkResolver::UplinkResolver(std::unique_ptr<Resolver> resolver) : resolver_(std::move(resolver)) {}
UplinkResolver::~UplinkResolver() = default;

Result<std::shared_ptr<UplinkResolver>> UplinkResolver::create(boost::asio::io_context& io, LogSink& log,
                                                               MetricsRegistry& metrics, const config::Config& config) {
  auto resolver = std::make_unique<Resolver>(io, Logger(log, "dns/uplink-resolver"), metrics, "uplink");
  if (auto r = resolver->configure(uplink_settings(config)); !r) return r.error();
  return std::make_shared<UplinkResolver>(std::move(resolver));
}

void UplinkResolver::resolve(const std::string& name, uint16_t type, Callback callback) {
  auto shared = std::make_shared<Callback>(std::move(callback));
  auto r = resolver_->resolve(name, type, qclass::IN, [shared](int err, ub_result* result) {
    if (err || !result) (*shared)(make_error(std::string("uplink resolver: ") + ub_strerror(err)));
    else (*shared)(convert(*result));
  });
  // Even a failure to start is reported later, as promised.
  if (!r) {
    auto& io = resolver_->io();
    boost::asio::post(io, [shared, e = r.error(), alive = std::weak_ptr<bool>(alive_)] {
      if (alive.lock()) (*shared)(e);
    });
  }
}

Result<void> UplinkResolver::reload(const config::Config& config) { return resolver_->configure(uplink_settings(config)); }

nlohmann::json UplinkResolver::status() const { return resolver_->status(); }

}  // namespace outpost::dns
