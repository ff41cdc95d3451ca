#include "dns/query_engine.h"

#include <time.h>
#include <unbound.h>

#include <cstring>

#include "dns/upstream_answer.h"

namespace outpost::dns {
namespace {

// Coarse monotonic milliseconds: the rate limiter and the cache need no better, and the
// coarse clock costs next to nothing.
uint64_t clock_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1'000'000;
}

constexpr size_t kLookupLimit = 65535;

}  // namespace

struct QueryEngine::Pending {
  ParsedQuery query;
  std::array<uint8_t, kMaxNameLength + 4> question{};  // the client's bytes, with its case
  Client client;
  std::weak_ptr<ReplyTarget> target;
  LookupCallback lookup;
};

QueryEngine::QueryEngine(boost::asio::io_context& io, Logger log, MetricsRegistry& metrics)
    : log_(log),
      noisy_(log),
      policy_(std::make_shared<Policy>(std::vector<Prefix>{}, RuleSet{}, 30, std::vector<Prefix>{})),
      counters_(metrics),
      scratch_(65535 + 512),
      resolver_(io, log.child("lan-resolver"), metrics, "lan") {}

QueryEngine::~QueryEngine() { resolver_.stop(); }

void QueryEngine::set_policy(std::shared_ptr<const Policy> policy) {
  policy_ = std::move(policy);
  cache_.clear();
}

void QueryEngine::set_rate_limit(unsigned per_second, unsigned burst) {
  if (per_second == limiter_.per_second() && std::max(burst, per_second) == limiter_.burst()) return;
  limiter_ = RateLimiter(per_second, burst);
}

Result<void> QueryEngine::set_upstream(const ResolverSettings& settings) {
  auto r = resolver_.configure(settings);
  if (r) cache_.clear();
  return r;
}

void QueryEngine::stop() { resolver_.stop(); }

Handled QueryEngine::handle(uint8_t* buf, size_t len, size_t cap, const Client& client,
                            const std::shared_ptr<ReplyTarget>& target) {
  ParsedQuery& q = query_;
  parse_query({buf, len}, q);
  uint64_t now_ms = clock_ms();
  bool admitted = limiter_.admit(client.address, now_ms);
  Decision d = policy_->decide(q, client.address, admitted);
  QueryOutcome o = act(buf, cap, q, d, client, target, now_ms, nullptr);
  counters_.query(q, d, o, client.tcp);
  return {o.length, o.forwarded};
}

QueryOutcome QueryEngine::act(uint8_t* buf, size_t cap, const ParsedQuery& q, const Decision& d, const Client& client,
                              const std::shared_ptr<ReplyTarget>& target, uint64_t now_ms, LookupCallback* lookup) {
  QueryOutcome o;
  size_t limit = lookup ? kLookupLimit : reply_limit(q, client.tcp);
  size_t n = 0;
  auto error = [&](unsigned rcode, bool recursion_available) {
    o.rcode = rcode;
    return write_error_reply(buf, cap, q, rcode, recursion_available);
  };
  switch (d.verdict) {
    case Verdict::drop:
    case Verdict::rate_limited:
      return o;
    case Verdict::refuse_client: n = error(static_cast<unsigned>(Rcode::refused), false); break;
    case Verdict::refuse: n = error(static_cast<unsigned>(Rcode::refused), true); break;
    case Verdict::formerr: n = error(static_cast<unsigned>(Rcode::formerr), true); break;
    case Verdict::notimp: n = error(static_cast<unsigned>(Rcode::notimp), true); break;
    case Verdict::badvers: n = error(kRcodeBadvers, true); break;
    case Verdict::rewrite:
      if (!lookup) d.rule->count_hit();
      n = write_rewrite(buf, cap, q, d.rule->target(), policy_->ttl());
      break;
    case Verdict::minimal_any:
      n = write_minimal_any(buf, cap, q, policy_->ttl());
      break;
    case Verdict::forward:
      if (auto hit = cache_.find(q.qname, q.qtype, q.qclass, q.edns.do_bit, now_ms / 1000)) {
        o.length = serve_prepared(buf, cap, *hit->answer, q, nullptr, hit->age_s, limit, &o.truncated);
        if (o.length) {
          o.cache_hit = true;
          o.rcode = hit->answer->rcode;
          return o;
        }
      }
      o.cache_miss = true;
      switch (forward(buf, q, client, target, lookup)) {
        case ForwardResult::queued:
          o.forwarded = true;
          return o;
        case ForwardResult::overloaded:
          o.overloaded = true;
          return o;
        case ForwardResult::failed:
          o.upstream_failed = true;
          n = error(static_cast<unsigned>(Rcode::servfail), true);
          break;
      }
      break;
  }
  if (n) o.length = finish_reply(buf, n, cap, q, limit, &o.truncated, o.rcode);
  return o;
}

QueryEngine::ForwardResult QueryEngine::forward(const uint8_t* buf, const ParsedQuery& q, const Client& client,
                                                const std::shared_ptr<ReplyTarget>& target, LookupCallback* lookup) {
  if (resolver_.in_flight() >= kMaxInFlight) {
    noisy_.warn("more than ", kMaxInFlight, " queries waiting for the LAN resolver: dropping");
    return ForwardResult::overloaded;
  }
  auto p = std::make_shared<Pending>();
  p->query = q;
  std::memcpy(p->question.data(), buf + kHeaderSize, q.question_end - kHeaderSize);
  p->client = client;
  p->target = target;
  if (lookup) p->lookup = std::move(*lookup);
  auto r = resolver_.resolve(q.qname.to_text(), q.qtype, q.qclass,
                             [this, p](int err, ub_result* result) { answered(*p, err, result); });
  if (!r) {
    noisy_.warn("LAN resolver: ", r.error().message);
    if (lookup) *lookup = std::move(p->lookup);
    return ForwardResult::failed;
  }
  return ForwardResult::queued;
}

void QueryEngine::answered(Pending& p, int ub_error, ub_result* result) {
  const ParsedQuery& q = p.query;
  PreparedAnswer prepared;
  bool usable = false;
  if (ub_error == 0 && result && result->answer_packet && result->answer_len > 0) {
    std::span<const uint8_t> packet(static_cast<const uint8_t*>(result->answer_packet),
                                    static_cast<size_t>(result->answer_len));
    usable = prepare_upstream_answer(packet, {q.qname, q.qtype, q.qclass, q.edns.do_bit}, *policy_, prepared);
    if (!usable) noisy_.warn("unusable answer from the LAN resolver for ", q.qname.to_text(), " ", type_text(q.qtype));
  } else if (ub_error) {
    noisy_.warn("LAN resolver error for ", q.qname.to_text(), ": ", ub_strerror(ub_error));
  }
  uint8_t* out = scratch_.data();
  size_t cap = scratch_.size();
  size_t limit = p.lookup ? kLookupLimit : reply_limit(q, p.client.tcp);
  LateOutcome o;
  size_t n = 0;
  if (usable) {
    n = serve_prepared(out, cap, prepared, q, p.question.data(), 0, limit, &o.truncated);
    o.rcode = prepared.rcode;
    o.prepared = &prepared;
  }
  if (!n) {
    std::memcpy(out + kHeaderSize, p.question.data(), q.question_end - kHeaderSize);
    o.rcode = static_cast<unsigned>(Rcode::servfail);
    n = finish_reply(out, write_error_reply(out, cap, q, o.rcode, true), cap, q, limit, &o.truncated);
  }
  o.upstream_failed = o.rcode == static_cast<unsigned>(Rcode::servfail);

  if (p.lookup) {
    LookupReport report;
    report.forwarded = true;
    report.upstream_rewritten = prepared.rewritten;
    report.hints_stripped = prepared.hints_stripped;
    report.records_dropped = prepared.records_dropped;
    report.reply.assign(out, out + n);
    if (usable) cache_.insert(q.qname, q.qtype, q.qclass, q.edns.do_bit, std::move(prepared), clock_ms() / 1000);
    p.lookup(std::move(report));
    return;
  }
  if (auto target = p.target.lock()) o.sent = target->send_reply(p.client.peer, {out, n});
  counters_.late(o);
  if (usable) cache_.insert(q.qname, q.qtype, q.qclass, q.edns.do_bit, std::move(prepared), clock_ms() / 1000);
}

void QueryEngine::lookup(const WireName& name, uint16_t qtype, const IpAddress& client, LookupCallback done) {
  // A query as a stub resolver would send it: RD, EDNS with our size.
  std::vector<uint8_t> buf(kLookupLimit + 512);
  WireWriter w(buf.data(), buf.size());
  w.u16(0x4f50), w.u16(flag::rd), w.u16(1), w.u16(0), w.u16(0), w.u16(1);
  w.name(name), w.u16(qtype), w.u16(qclass::IN);
  w.u8(0), w.u16(qtype::OPT), w.u16(kOurUdpSize), w.u32(0), w.u16(0);
  ParsedQuery q;
  parse_query({buf.data(), w.size()}, q);
  uint64_t now_ms = clock_ms();
  Decision d = policy_->decide(q, client, true);
  LookupReport report;
  report.verdict = to_string(d.verdict);
  report.reason = d.reason;
  if (d.rule) report.rule = d.rule->to_string();
  report.rate_limited_now = !limiter_.would_admit(client, now_ms);
  Client c{client, {}, true};
  // The callback travels with the query if it is forwarded; otherwise we answer here.
  LookupCallback pending = [report, done](LookupReport late) mutable {
    late.verdict = report.verdict, late.reason = report.reason, late.rule = report.rule;
    late.rate_limited_now = report.rate_limited_now;
    done(std::move(late));
  };
  QueryOutcome o = act(buf.data(), buf.size(), q, d, c, nullptr, now_ms, &pending);
  if (o.forwarded) return;
  report.from_cache = o.cache_hit;
  report.reply.assign(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(o.length));
  done(std::move(report));
}

}  // namespace outpost::dns
