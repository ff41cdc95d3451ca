#pragma once
// The query path, whatever the transport. A query walks one way:
//   receive  udp_listener.cc / tcp_listener.cc
//   parse    wire.h        parse_query()
//   decide   policy.h      Policy::decide(), with the rate limiter's verdict
//   act      answer.h      rewrite, errors, RFC 8482, answer-cache hits: built in the
//                          receive buffer (no allocation); or forward to the LAN resolver,
//                          whose answer upstream_answer.h makes safe for the LAN
//   count    stats.h       DnsCounters, last
#include <boost/asio/ip/udp.hpp>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "dns/answer_cache.h"
#include "dns/policy.h"
#include "dns/rate_limiter.h"
#include "dns/resolver.h"
#include "dns/stats.h"

namespace outpost::dns {

// Where an answer that comes later goes: the UDP listener that took the query, or the
// TCP connection. Held weakly: a closed connection just loses its late answers.
class ReplyTarget {
 public:
  virtual ~ReplyTarget() = default;
  virtual bool send_reply(const boost::asio::ip::udp::endpoint& peer, std::span<const uint8_t> reply) = 0;
};

struct Client {
  IpAddress address;
  boost::asio::ip::udp::endpoint peer;  // UDP: where a late answer goes
  bool tcp = false;
};

// What became of a received query: a reply written in place now, or one to come later.
struct Handled {
  size_t length = 0;   // reply length in the buffer, 0 if none now
  bool later = false;  // the answer will go to the ReplyTarget
};

// What `dns lookup` shows: the decision, and the reply the client would get.
struct LookupReport {
  std::string verdict;
  std::string reason;
  std::string rule;  // NameRule::to_string() of the deciding rule, if any
  bool rate_limited_now = false;  // the client is over its rate right now
  bool from_cache = false;
  bool forwarded = false;
  bool upstream_rewritten = false;
  unsigned hints_stripped = 0;
  unsigned records_dropped = 0;
  double upstream_ms = 0;
  std::vector<uint8_t> reply;
};
using LookupCallback = std::function<void(LookupReport)>;

class QueryEngine {
 public:
  static constexpr size_t kMaxInFlight = 4096;

  QueryEngine(boost::asio::io_context& io, Logger log, MetricsRegistry& metrics);
  ~QueryEngine();

  // Reload: each piece is swapped whole. A new policy also empties the answer cache, whose
  // answers were prepared under the old rules. Queries in flight are answered under the
  // policy current when their answer arrives.
  void set_policy(std::shared_ptr<const Policy> policy);
  void set_rate_limit(unsigned per_second, unsigned burst);
  Result<void> set_upstream(const ResolverSettings& settings);
  void stop();

  // One received query in buf[0, len), with room up to `cap`. The reply, if any now, is
  // written into buf; a forwarded query's answer goes to `target` later.
  Handled handle(uint8_t* buf, size_t len, size_t cap, const Client& client, const std::shared_ptr<ReplyTarget>& target);

  // `dns lookup`: the same path for a made-up query from `client`, without rate limiting
  // and without counting.
  void lookup(const WireName& name, uint16_t qtype, const IpAddress& client, LookupCallback done);

  const Policy& policy() const { return *policy_; }
  const std::shared_ptr<const Policy>& policy_ptr() const { return policy_; }
  const DnsCounters& counters() const { return counters_; }
  const AnswerCache& cache() const { return cache_; }
  const Resolver& resolver() const { return resolver_; }
  const RateLimiter& limiter() const { return limiter_; }

 private:
  struct Pending;
  enum class ForwardResult { queued, overloaded, failed };

  QueryOutcome act(uint8_t* buf, size_t cap, const ParsedQuery& q, const Decision& d, const Client& client,
                   const std::shared_ptr<ReplyTarget>& target, uint64_t now_ms, LookupCallback* lookup);
  ForwardResult forward(const uint8_t* buf, const ParsedQuery& q, const Client& client,
                        const std::shared_ptr<ReplyTarget>& target, LookupCallback* lookup);
  void answered(Pending& p, int ub_error, ub_result* result);

  Logger log_;
  RateLimitedLog noisy_;
  std::shared_ptr<const Policy> policy_;
  RateLimiter limiter_{0, 0};
  AnswerCache cache_;
  DnsCounters counters_;
  ParsedQuery query_;             // reused for every query
  std::vector<uint8_t> scratch_;  // late answers are written here
  Resolver resolver_;             // last: destroyed first, so no callback outlives the rest
};

}  // namespace outpost::dns
