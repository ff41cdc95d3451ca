#pragma once
// count: the one place DNS queries are counted. One stats struct (Envoy-style X-macro, so
// `show dns` and /metrics use the same names) plus counters labelled by query type and
// response code. Every counter is created once; counting a query is a few relaxed atomic
// increments.
#include <array>
#include <cstdint>

#include "common/metrics.h"
#include "dns/answer.h"
#include "dns/policy.h"
#include "dns/wire.h"

namespace outpost::dns {

// clang-format off
#define OUTPOST_DNS_STATS(X)                                                                            \
  X(queries, "DNS queries received (UDP and TCP, malformed included)")                                \
  X(tcp_queries, "DNS queries received over TCP")                                                     \
  X(rewritten, "Queries answered with a synthesised vendor/override answer")                          \
  X(upstream_rewritten, "Forwarded answers in which a vendor name's records were replaced or removed") \
  X(hints_stripped, "ipv4hint/ipv6hint parameters removed from forwarded HTTPS/SVCB answers")         \
  X(forwarded, "Queries sent to the LAN resolver (answer-cache misses)")                              \
  X(cache_hits, "Forwardable queries answered from the answer cache")                                 \
  X(cache_misses, "Forwardable queries not in the answer cache")                                      \
  X(minimal_any, "qtype ANY queries given the RFC 8482 minimal answer")                               \
  X(refused, "Queries answered REFUSED (client outside the LAN subnets, class or type not served)")    \
  X(refused_clients, "Queries refused because the client is outside lan.client_subnets")             \
  X(rate_limited, "Queries dropped by the per-client rate limit")                                     \
  X(malformed, "Malformed queries (answered FORMERR, or dropped when no answer is possible)")         \
  X(dropped, "Queries that got no answer (malformed beyond reply, rate-limited, overload, send error)") \
  X(truncated, "Answers sent with TC because they exceeded the client's UDP size")                    \
  X(upstream_failures, "Forwarded queries answered SERVFAIL because the LAN resolver failed")
// clang-format on
OUTPOST_DEFINE_STATS(DnsStats, "outpost_dns_", OUTPOST_DNS_STATS);

// What act did with one query.
struct QueryOutcome {
  size_t length = 0;  // reply written now (0: none now)
  unsigned rcode = 0;
  bool truncated = false;
  bool cache_hit = false;
  bool cache_miss = false;
  bool forwarded = false;        // handed to the LAN resolver: the reply comes later
  bool overloaded = false;       // too many queries in flight: dropped
  bool upstream_failed = false;  // the resolver refused the query: SERVFAIL now
};

// What became of a forwarded query when its answer came back.
struct LateOutcome {
  bool sent = false;
  unsigned rcode = 0;
  bool truncated = false;
  bool upstream_failed = false;
  const PreparedAnswer* prepared = nullptr;  // null when there was no usable answer
};

class DnsCounters {
 public:
  explicit DnsCounters(MetricsRegistry& registry);

  void query(const ParsedQuery& q, const Decision& d, const QueryOutcome& o, bool tcp);
  void late(const LateOutcome& o);

  DnsStats stats;
  nlohmann::json to_json() const;

 private:
  static constexpr uint16_t kTypes[] = {qtype::A,   qtype::AAAA,  qtype::CNAME, qtype::MX,    qtype::NS,
                                        qtype::PTR, qtype::SOA,   qtype::SRV,   qtype::TXT,   qtype::NAPTR,
                                        qtype::DS,  qtype::DNSKEY, qtype::SVCB, qtype::HTTPS, qtype::ANY};
  static constexpr size_t kOtherType = std::size(kTypes);
  static constexpr size_t kRcodes = 7;  // NOERROR..REFUSED, BADVERS; then other
  std::array<Counter*, kOtherType + 1> by_type_{};
  std::array<Counter*, kRcodes + 1> by_rcode_{};
};

}  // namespace outpost::dns
