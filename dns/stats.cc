#include "dns/stats.h"

#include "dns/answer.h"

namespace outpost::dns {
namespace {

size_t rcode_index(unsigned rcode) {
  if (rcode <= 5) return rcode;
  if (rcode == kRcodeBadvers) return 6;
  return 7;
}

}  // namespace

DnsCounters::DnsCounters(MetricsRegistry& registry) : stats(DnsStats::make(registry)) {
  for (size_t i = 0; i <= kOtherType; ++i) {
    std::string label = i < kOtherType ? type_text(kTypes[i]) : "other";
    by_type_[i] = &registry.counter("outpost_dns_queries_by_type_total", "DNS queries by query type",
                                    {{"qtype", label}});
  }
  static constexpr const char* rcodes[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                           "NOTIMP",  "REFUSED", "BADVERS",  "other"};
  for (size_t i = 0; i <= kRcodes; ++i)
    by_rcode_[i] = &registry.counter("outpost_dns_responses_total", "DNS responses sent by response code",
                                     {{"rcode", rcodes[i]}});
}

void DnsCounters::query(const ParsedQuery& q, const Decision& d, const QueryOutcome& o, bool tcp) {
  stats.queries.inc();
  if (tcp) stats.tcp_queries.inc();
  if (q.question_end > kHeaderSize) {
    size_t i = 0;
    while (i < kOtherType && kTypes[i] != q.qtype) ++i;
    by_type_[i]->inc();
  }
  if (q.problem != QueryProblem::none && q.problem != QueryProblem::several_questions) stats.malformed.inc();
  switch (d.verdict) {
    case Verdict::rate_limited: stats.rate_limited.inc(); break;
    case Verdict::refuse_client: stats.refused.inc(), stats.refused_clients.inc(); break;
    case Verdict::refuse: stats.refused.inc(); break;
    case Verdict::rewrite: stats.rewritten.inc(); break;
    case Verdict::minimal_any: stats.minimal_any.inc(); break;
    default: break;
  }
  if (o.cache_hit) stats.cache_hits.inc();
  if (o.cache_miss) stats.cache_misses.inc();
  if (o.forwarded) stats.forwarded.inc();
  if (o.upstream_failed) stats.upstream_failures.inc();
  if (o.length) {
    by_rcode_[rcode_index(o.rcode)]->inc();
    if (o.truncated) stats.truncated.inc();
  } else if (!o.forwarded) {
    stats.dropped.inc();
  }
}

void DnsCounters::late(const LateOutcome& o) {
  if (o.prepared) {
    if (o.prepared->rewritten) stats.upstream_rewritten.inc();
    if (o.prepared->hints_stripped) stats.hints_stripped.inc(o.prepared->hints_stripped);
  }
  if (o.upstream_failed) stats.upstream_failures.inc();
  if (!o.sent) {
    stats.dropped.inc();
    return;
  }
  by_rcode_[rcode_index(o.rcode)]->inc();
  if (o.truncated) stats.truncated.inc();
}

nlohmann::json DnsCounters::to_json() const {
  auto j = stats.to_json();
  auto types = nlohmann::json::object();
  for (size_t i = 0; i <= kOtherType; ++i)
    if (auto v = by_type_[i]->value()) types[i < kOtherType ? type_text(kTypes[i]) : "other"] = v;
  static constexpr const char* rcodes[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                           "NOTIMP",  "REFUSED", "BADVERS",  "other"};
  auto codes = nlohmann::json::object();
  for (size_t i = 0; i <= kRcodes; ++i)
    if (auto v = by_rcode_[i]->value()) codes[rcodes[i]] = v;
  j["by_type"] = types;
  j["by_rcode"] = codes;
  return j;
}

}  // namespace outpost::dns
