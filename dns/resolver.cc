#include "dns/resolver.h"

#include <unbound.h>

#include <boost/asio/post.hpp>
#include <filesystem>

namespace outpost::dns {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

// One ub_ctx, its answer pipe registered with the io_context, and the queries it owes.
class UnboundContext {
 public:
  UnboundContext(asio::io_context& io, Resolver& owner, ub_ctx* ctx)
      : owner_(owner), ctx_(ctx), fd_(io, ub_fd(ctx)) {}
  ~UnboundContext() {
    *alive_ = false;
    boost::system::error_code ec;
    fd_.cancel(ec);
    fd_.release();  // the descriptor belongs to libunbound
    ub_ctx_delete(ctx_);  // stops the worker thread; unanswered queries are freed with it
  }

  void watch() {
    fd_.async_wait(asio::posix::stream_descriptor::wait_read, [this, alive = alive_](boost::system::error_code ec) {
      if (ec || !*alive) return;
      ub_process(ctx_);  // runs on_answer() for every answer that is ready
      watch();
    });
  }

  Result<void> resolve(const std::string& name, uint16_t type, uint16_t klass, ResolveCallback done) {
    pending_.push_front(Pending{this, std::move(done), Clock::now(), pending_.end()});
    auto it = pending_.begin();
    it->self = it;
    int id = 0;
    int rc = ub_resolve_async(ctx_, name.c_str(), type, klass, &*it, &UnboundContext::on_answer, &id);
    if (rc != 0) {
      pending_.erase(it);
      return make_error(std::string("libunbound: ") + ub_strerror(rc));
    }
    return {};
  }

  size_t pending() const { return pending_.size(); }

 private:
  struct Pending {
    UnboundContext* owner;
    ResolveCallback done;
    Clock::time_point started;
    std::list<Pending>::iterator self;
  };

  static void on_answer(void* arg, int err, ub_result* result) {
    auto* p = static_cast<Pending*>(arg);
    UnboundContext& self = *p->owner;
    ResolveCallback done = std::move(p->done);
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - p->started).count();
    self.pending_.erase(p->self);
    bool failed = err != 0 || result == nullptr || result->rcode == 2;
    self.owner_.answered(self, ms, failed);
    done(err, err ? nullptr : result);
    if (result) ub_resolve_free(result);
  }

  Resolver& owner_;
  ub_ctx* ctx_;
  asio::posix::stream_descriptor fd_;
  std::list<Pending> pending_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

 public:
  void kill() { *alive_ = false; }
};

namespace {

Result<ub_ctx*> make_context(const ResolverSettings& s) {
  ub_ctx* ctx = ub_ctx_create();
  if (!ctx) return make_error("libunbound: ub_ctx_create failed");
  auto fail = [ctx](const std::string& what, int rc) -> Result<ub_ctx*> {
    ub_ctx_delete(ctx);
    return make_error("libunbound: " + what + ": " + ub_strerror(rc));
  };
  auto opt = [&](const char* name, const std::string& value) { return ub_ctx_set_option(ctx, name, value.c_str()); };
  // Every setting goes in before the first resolve: the first resolve freezes them.
  if (int rc = ub_ctx_async(ctx, 1)) return fail("async (threads)", rc);
  if (int rc = opt("do-not-query-localhost:", "no")) return fail("do-not-query-localhost", rc);
  if (int rc = opt("edns-buffer-size:", "1232")) return fail("edns-buffer-size", rc);
  if (int rc = opt("outgoing-range:", "4096")) return fail("outgoing-range", rc);
  if (int rc = opt("num-queries-per-thread:", "2048")) return fail("num-queries-per-thread", rc);
  if (int rc = opt("module-config:", s.dnssec ? "validator iterator" : "iterator")) return fail("module-config", rc);
  if (s.dnssec) {
    std::string ta = s.trust_anchor_file.empty() ? "/usr/share/dns/root.key" : s.trust_anchor_file;
    if (int rc = ub_ctx_add_ta_file(ctx, ta.c_str())) return fail("trust anchor " + ta, rc);
  }
  for (const auto& f : s.forwarders) {
    std::string addr = f.address.to_string() + "@" + std::to_string(f.port);
    if (int rc = ub_ctx_set_fwd(ctx, addr.c_str())) return fail("forwarder " + addr, rc);
  }
  return ctx;
}

}  // namespace

std::string ResolverSettings::describe() const {
  std::string out;
  if (forwarders.empty()) out = "recursion from the root";
  for (const auto& f : forwarders) out += (out.empty() ? "forward to " : ", ") + f.to_string();
  if (dnssec) out += ", DNSSEC validation" + (trust_anchor_file.empty() ? "" : " (" + trust_anchor_file + ")");
  return out;
}

void UpstreamHealth::record(double ms, bool failed, Clock::time_point now) {
  ++answers;
  last_ms = ms;
  max_ms = std::max(max_ms, ms);
  ewma_ms = answers == 1 ? ms : ewma_ms * 0.9 + ms * 0.1;
  size_t b = ms < 1 ? 0 : ms < 10 ? 1 : ms < 100 ? 2 : ms < 1000 ? 3 : 4;
  ++latency_buckets[b];
  if (failed) {
    ++failures;
    ++consecutive_failures;
    last_failure = now;
  } else {
    consecutive_failures = 0;
    last_success = now;
  }
}

const char* UpstreamHealth::state() const {
  if (answers == 0) return "unknown";
  if (consecutive_failures >= 3) return "down";
  if (last_failure != Clock::time_point{} && Clock::now() - last_failure < std::chrono::seconds(60)) return "degraded";
  return "up";
}

Resolver::Resolver(asio::io_context& io, Logger log, MetricsRegistry& metrics, std::string role)
    : io_(io),
      log_(std::move(log)),
      role_(std::move(role)),
      queries_(metrics.counter("outpost_dns_upstream_queries_total", "Queries handed to libunbound",
                               {{"resolver", role_}})),
      failures_(metrics.counter("outpost_dns_upstream_failures_total",
                                "libunbound answers that were SERVFAIL or errors", {{"resolver", role_}})) {
  static constexpr const char* buckets[] = {"lt1ms", "lt10ms", "lt100ms", "lt1s", "ge1s"};
  for (size_t i = 0; i < latency_.size(); ++i)
    latency_[i] = &metrics.counter("outpost_dns_upstream_answers_total",
                                   "libunbound answers by latency (lt1ms: in practice its cache)",
                                   {{"resolver", role_}, {"latency", buckets[i]}});
  gauges_.push_back(metrics.gauge_callback("outpost_dns_upstream_latency_ms",
                                           "Moving average of libunbound answer latency", {{"resolver", role_}},
                                           [this] { return health_.ewma_ms; }));
  gauges_.push_back(metrics.gauge_callback("outpost_dns_upstream_up",
                                           "1 unless the last 3 upstream answers failed", {{"resolver", role_}},
                                           [this] { return health_.consecutive_failures >= 3 ? 0.0 : 1.0; }));
  gauges_.push_back(metrics.gauge_callback("outpost_dns_upstream_in_flight", "Queries waiting for libunbound",
                                           {{"resolver", role_}}, [this] { return double(in_flight()); }));
}

Resolver::~Resolver() { stop(); }

Result<void> Resolver::configure(const ResolverSettings& settings) {
  if (current_ && settings.same_as(settings_)) return {};
  auto ctx = make_context(settings);
  if (!ctx) return ctx.error();
  auto next = std::make_unique<UnboundContext>(io_, *this, *ctx);
  next->watch();
  if (current_) {
    current_->pending() ? retired_.push_back(std::move(current_)) : current_.reset();
    log_.info(role_, " resolver: new libunbound context (", settings.describe(), ")");
  }
  current_ = std::move(next);
  settings_ = settings;
  return {};
}

Result<void> Resolver::resolve(const std::string& name, uint16_t type, uint16_t klass, ResolveCallback done) {
  if (!current_) return make_error(role_ + " resolver is not running");
  auto r = current_->resolve(name, type, klass, std::move(done));
  if (r) {
    ++health_.queries;
    queries_.inc();
  }
  return r;
}

void Resolver::answered(UnboundContext& ctx, double ms, bool failed) {
  health_.record(ms, failed, Clock::now());
  if (failed) failures_.inc();
  size_t b = ms < 1 ? 0 : ms < 10 ? 1 : ms < 100 ? 2 : ms < 1000 ? 3 : 4;
  latency_[b]->inc();
  if (&ctx != current_.get() && ctx.pending() == 0)
    // Not from inside its own ub_process(): delete it from the loop.
    asio::post(io_, [this, alive = std::weak_ptr<bool>(alive_)] {
      if (alive.lock()) reap_retired();
    });
}

void Resolver::reap_retired() {
  retired_.remove_if([](const std::unique_ptr<UnboundContext>& c) { return c->pending() == 0; });
}

void Resolver::stop() {
  if (current_) current_->kill();
  for (auto& c : retired_) c->kill();
  current_.reset();
  retired_.clear();
}

size_t Resolver::in_flight() const {
  size_t n = current_ ? current_->pending() : 0;
  for (const auto& c : retired_) n += c->pending();
  return n;
}

nlohmann::json Resolver::status() const {
  auto since = [](Clock::time_point t) -> nlohmann::json {
    if (t == Clock::time_point{}) return nullptr;
    return std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - t).count();
  };
  return {
      {"role", role_},
      {"upstream", current_ ? settings_.describe() : "stopped"},
      {"state", health_.state()},
      {"queries", health_.queries},
      {"answers", health_.answers},
      {"failures", health_.failures},
      {"in_flight", in_flight()},
      {"retired_contexts", retired_.size()},
      {"latency_ms", {{"avg", health_.ewma_ms}, {"last", health_.last_ms}, {"max", health_.max_ms}}},
      {"answers_by_latency",
       {{"lt1ms", health_.latency_buckets[0]},
        {"lt10ms", health_.latency_buckets[1]},
        {"lt100ms", health_.latency_buckets[2]},
        {"lt1s", health_.latency_buckets[3]},
        {"ge1s", health_.latency_buckets[4]}}},
      {"last_success_s_ago", since(health_.last_success)},
      {"last_failure_s_ago", since(health_.last_failure)},
  };
}

}  // namespace outpost::dns
