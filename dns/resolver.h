#pragma once
// The libunbound side. Each context runs in threaded async mode (ub_ctx_async(ctx, 1): a
// worker thread inside libunbound, never a fork() of the daemon); its answer pipe (ub_fd)
// is watched by the daemon's io_context and callbacks run inside ub_process() on the loop
// thread, so nothing here needs a lock and there is no thread per query.
// libunbound settings are final after the first resolve, so a changed setting means a new
// context: Resolver::configure() swaps one in and keeps the old one until its queries end.
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "common/log.h"
#include "common/metrics.h"
#include "common/net.h"
#include "common/result.h"

struct ub_ctx;
struct ub_result;

namespace outpost::dns {

struct ResolverSettings {
  std::vector<Endpoint> forwarders;  // empty = full recursion from the root hints
  bool dnssec = false;
  std::string trust_anchor_file;     // with dnssec; default /usr/share/dns/root.key
  std::string describe() const;      // "forward to 10.20.0.53:53" / "recursion"
  bool same_as(const ResolverSettings& o) const { return describe() == o.describe(); }
};

// Passive health of the upstream path, from the answers libunbound gives back.
struct UpstreamHealth {
  uint64_t queries = 0, answers = 0, failures = 0, consecutive_failures = 0;
  double ewma_ms = 0, last_ms = 0, max_ms = 0;
  // answers by latency: <1 ms (in practice libunbound cache hits), <10 ms, <100 ms, <1 s, >= 1 s
  std::array<uint64_t, 5> latency_buckets{};
  std::chrono::steady_clock::time_point last_success{}, last_failure{};
  void record(double ms, bool failed, std::chrono::steady_clock::time_point now);
  // "unknown" (nothing asked yet), "up", "degraded" (recent failures), "down" (>= 3 in a row)
  const char* state() const;
};

// Called once per query on the loop thread; `result` is valid during the call only and is
// null when libunbound reported an error (`ub_error`, see ub_strerror).
using ResolveCallback = std::function<void(int ub_error, ub_result* result)>;

class UnboundContext;

class Resolver {
 public:
  // `role` names it in logs and metrics ("lan", "uplink").
  Resolver(boost::asio::io_context& io, Logger log, MetricsRegistry& metrics, std::string role);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Builds a context for `settings` and swaps it in (unless the settings are unchanged);
  // queries in flight finish on the context that took them.
  Result<void> configure(const ResolverSettings& settings);
  // `name` in presentation form. `done` always runs later, never inside resolve().
  Result<void> resolve(const std::string& name, uint16_t type, uint16_t klass, ResolveCallback done);
  // Drops every context; callbacks of queries in flight are not called.
  void stop();

  size_t in_flight() const;
  const UpstreamHealth& health() const { return health_; }
  const std::string& role() const { return role_; }
  boost::asio::io_context& io() const { return io_; }
  nlohmann::json status() const;

 private:
  friend class UnboundContext;
  void answered(UnboundContext& ctx, double ms, bool failed);
  void reap_retired();

  boost::asio::io_context& io_;
  Logger log_;
  std::string role_;
  ResolverSettings settings_;
  std::unique_ptr<UnboundContext> current_;
  std::list<std::unique_ptr<UnboundContext>> retired_;  // old contexts with queries in flight
  UpstreamHealth health_;
  Counter& queries_;
  Counter& failures_;
  std::array<Counter*, 5> latency_{};
  std::vector<GaugeCallbackHandle> gauges_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace outpost::dns
