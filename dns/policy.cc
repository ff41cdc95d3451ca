#include "dns/policy.h"

#include "daemon/config_model.h"

namespace outpost::dns {
namespace {

uint32_t v4_mask(unsigned len) { return len == 0 ? 0 : ~uint32_t{0} << (32 - len); }

}  // namespace

const char* to_string(Verdict v) {
  switch (v) {
    case Verdict::drop: return "drop";
    case Verdict::rate_limited: return "rate-limited";
    case Verdict::refuse_client: return "refuse-client";
    case Verdict::refuse: return "refuse";
    case Verdict::formerr: return "formerr";
    case Verdict::notimp: return "notimp";
    case Verdict::badvers: return "badvers";
    case Verdict::rewrite: return "rewrite";
    case Verdict::minimal_any: return "minimal-any";
    case Verdict::forward: return "forward";
  }
  return "?";
}

Policy::Policy(std::vector<Prefix> client_subnets, RuleSet rules, uint32_t ttl_s, std::vector<Prefix> vendor_prefixes)
    : client_subnets_(std::move(client_subnets)),
      rules_(std::move(rules)),
      ttl_s_(ttl_s),
      vendor_prefixes_(std::move(vendor_prefixes)) {
  for (const auto& p : client_subnets_)
    if (p.address.is_v4()) client_v4_.push_back({p.address.to_v4().to_uint() & v4_mask(p.length), v4_mask(p.length)});
  for (const auto& p : vendor_prefixes_)
    if (p.address.is_v4()) vendor_v4_.push_back({p.address.to_v4().to_uint() & v4_mask(p.length), v4_mask(p.length)});
}

Result<std::shared_ptr<const Policy>> Policy::from_config(const config::Config& config) {
  RuleSet rules;
  RewriteTarget lan;
  lan.v4 = config.lan.address.address.to_v4();
  if (config.lan.address6) lan.v6 = config.lan.address6->address.to_v6();
  std::string vendor_origin =
      "vendor" + (config.vendor.profile.empty() ? std::string() : " profile " + config.vendor.profile);
  for (const auto& name : config.vendor.fqdns)
    if (auto r = rules.add(name, lan, vendor_origin); !r) return make_error("vendor.fqdns: " + r.error().message);
  for (const auto& [name, address] : config.dns.overrides) {
    RewriteTarget t;
    if (address.is_v4()) t.v4 = address.to_v4();
    else t.v6 = address.to_v6();
    if (auto r = rules.add(name, t, "dns.overrides"); !r) return make_error("dns.overrides: " + r.error().message);
  }
  return std::shared_ptr<const Policy>(
      std::make_shared<Policy>(config.lan.client_subnets, std::move(rules), config.dns.ttl_s, config.vendor.prefixes));
}

bool Policy::v4_match(const std::vector<V4Net>& nets, const IpAddress& a) {
  uint32_t x = a.to_v4().to_uint();
  for (const auto& n : nets)
    if ((x & n.mask) == n.net) return true;
  return false;
}

bool Policy::client_allowed(const IpAddress& client) const {
  if (client.is_v4()) return v4_match(client_v4_, client);
  if (client.to_v6().is_v4_mapped())
    return v4_match(client_v4_, boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, client.to_v6()));
  for (const auto& p : client_subnets_)
    if (p.contains(client)) return true;
  return false;
}

bool Policy::in_vendor_prefixes(const IpAddress& a) const {
  if (a.is_v4()) return v4_match(vendor_v4_, a);
  for (const auto& p : vendor_prefixes_)
    if (p.contains(a)) return true;
  return false;
}

Decision Policy::decide(const ParsedQuery& q, const IpAddress& client, bool admitted) const {
  using P = QueryProblem;
  if (q.problem == P::too_short || q.problem == P::is_response) return {Verdict::drop, nullptr, to_string(q.problem)};
  if (!admitted) return {Verdict::rate_limited, nullptr, "client over dns.rate_limit"};
  if (!client_allowed(client)) return {Verdict::refuse_client, nullptr, "client outside lan.client_subnets"};
  if (q.problem == P::no_question || q.problem == P::bad_question || q.problem == P::bad_sections ||
      q.problem == P::bad_edns)
    return {Verdict::formerr, nullptr, to_string(q.problem)};
  if (q.header.opcode() != 0) return {Verdict::notimp, nullptr, "opcode other than QUERY"};
  if (q.problem == P::several_questions) return {Verdict::notimp, nullptr, to_string(q.problem)};
  if (q.edns.present && q.edns.version != 0) return {Verdict::badvers, nullptr, "EDNS version other than 0"};
  if (q.qclass != qclass::IN) return {Verdict::refuse, nullptr, "class other than IN"};
  if (q.qtype == qtype::OPT) return {Verdict::formerr, nullptr, "OPT as a question type"};
  if (q.qtype >= 128 && q.qtype != qtype::ANY) return {Verdict::refuse, nullptr, "meta query type (AXFR, IXFR ...)"};
  if (const NameRule* rule = rules_.find(q.qname)) return {Verdict::rewrite, rule, "name rule"};
  if (q.qtype == qtype::ANY) return {Verdict::minimal_any, nullptr, "qtype ANY (RFC 8482)"};
  return {Verdict::forward, nullptr, "no rule: LAN resolver"};
}

}  // namespace outpost::dns
