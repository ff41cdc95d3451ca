#pragma once
// decide: what a parsed query gets. Pure: no sockets, no clocks, no counters; the rate
// limiter's verdict comes in as `admitted`. The order of the checks is the policy:
//   1. unparseable header or a response (QR)   -> drop (counted as malformed)
//   2. over the client's rate                   -> drop (rate_limited)
//   3. client outside lan.client_subnets        -> REFUSED (never an open resolver)
//   4. no question / malformed question, records or OPT -> FORMERR
//   5. opcode other than QUERY, QDCOUNT > 1     -> NOTIMP
//   6. EDNS version other than 0               -> BADVERS
//   7. class other than IN (CH, HS, ANY ...)    -> REFUSED
//   8. AXFR/IXFR/MAILA/MAILB, other meta types  -> REFUSED (OPT as a qtype -> FORMERR)
//   9. a vendor/override name rule matches      -> rewrite (synthesised answer)
//  10. qtype ANY                                -> minimal answer (RFC 8482)
//  11. anything else                            -> forward to the LAN resolver
#include <memory>
#include <vector>

#include "common/net.h"
#include "common/result.h"
#include "dns/rules.h"
#include "dns/wire.h"

namespace outpost::config {
struct Config;
}

namespace outpost::dns {

enum class Verdict : uint8_t {
  drop,
  rate_limited,
  refuse_client,  // REFUSED: not a LAN client
  refuse,         // REFUSED: class or type not served
  formerr,
  notimp,
  badvers,
  rewrite,
  minimal_any,
  forward,
};
const char* to_string(Verdict v);

struct Decision {
  Verdict verdict = Verdict::drop;
  const NameRule* rule = nullptr;  // the rule that matched (rewrite)
  const char* reason = "";         // for `dns lookup` and logs
};

class Policy {
 public:
  Policy(std::vector<Prefix> client_subnets, RuleSet rules, uint32_t ttl_s, std::vector<Prefix> vendor_prefixes);
  // The rule set of config.vendor.fqdns (answered with the LAN address) and dns.overrides.
  static Result<std::shared_ptr<const Policy>> from_config(const config::Config& config);

  Decision decide(const ParsedQuery& q, const IpAddress& client, bool admitted) const;
  bool client_allowed(const IpAddress& client) const;
  bool in_vendor_prefixes(const IpAddress& a) const;

  const RuleSet& rules() const { return rules_; }
  uint32_t ttl() const { return ttl_s_; }
  const std::vector<Prefix>& client_subnets() const { return client_subnets_; }
  const std::vector<Prefix>& vendor_prefixes() const { return vendor_prefixes_; }

 private:
  struct V4Net {
    uint32_t net, mask;
  };
  static bool v4_match(const std::vector<V4Net>& nets, const IpAddress& a);
  std::vector<Prefix> client_subnets_;
  std::vector<V4Net> client_v4_;
  RuleSet rules_;
  uint32_t ttl_s_;
  std::vector<Prefix> vendor_prefixes_;
  std::vector<V4Net> vendor_v4_;
};

}  // namespace outpost::dns
