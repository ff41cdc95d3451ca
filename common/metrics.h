#pragma once
// The metrics registry every component uses. Counters and gauges live as long as the
// registry (so a component recreated on reload keeps counting from where it was);
// callback gauges are removed when their handle goes away.
// render() produces the Prometheus text exposition format (version 0.0.4).
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace outpost {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double d) {
    double cur = value_.load(std::memory_order_relaxed);
    while (!value_.compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {
    }
  }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class MetricsRegistry;

// Keeps a callback gauge registered while alive.
class GaugeCallbackHandle {
 public:
  GaugeCallbackHandle() = default;
  GaugeCallbackHandle(MetricsRegistry* registry, uint64_t id) : registry_(registry), id_(id) {}
  GaugeCallbackHandle(GaugeCallbackHandle&& other) noexcept { *this = std::move(other); }
  GaugeCallbackHandle& operator=(GaugeCallbackHandle&& other) noexcept;
  GaugeCallbackHandle(const GaugeCallbackHandle&) = delete;
  GaugeCallbackHandle& operator=(const GaugeCallbackHandle&) = delete;
  ~GaugeCallbackHandle() { reset(); }
  void reset();

 private:
  MetricsRegistry* registry_ = nullptr;
  uint64_t id_ = 0;
};

class MetricsRegistry {
 public:
  // Same name and labels give the same object. Names must follow Prometheus rules;
  // a name registered with two types is a programming error (throws std::logic_error).
  Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels = {});
  [[nodiscard]] GaugeCallbackHandle gauge_callback(const std::string& name, const std::string& help,
                                                   const Labels& labels, std::function<double()> fn);

  std::string render() const;
  // Current value of one series, for tests and `show` commands; nullopt if unknown.
  std::optional<double> value(const std::string& name, const Labels& labels = {}) const;

 private:
  friend class GaugeCallbackHandle;
  enum class Type { counter, gauge };
  struct Series {
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::map<uint64_t, std::function<double()>> callbacks;  // callback gauges by handle id
  };
  struct Family {
    Type type;
    std::string help;
    std::map<std::string, Series> series;  // key: rendered label set "{a="b"}"
  };
  Family& family(const std::string& name, const std::string& help, Type type);
  void remove_callback(uint64_t id);

  mutable std::mutex mutex_;
  std::map<std::string, Family> families_;
  std::map<uint64_t, std::pair<std::string, std::string>> callback_index_;  // id -> family, series
  uint64_t next_callback_id_ = 1;
};

std::string render_labels(const Labels& labels);

// Declares a stats struct from an X-macro list, Envoy style: one name per counter, used
// by the metrics exposition and by `show` (to_json) alike.
//   #define DNS_STATS(X) X(queries, "DNS queries received") X(refused, "...")
//   OUTPOST_DEFINE_STATS(DnsStats, "outpost_dns_", DNS_STATS)
//   auto stats = DnsStats::make(registry);  stats.queries.inc();
#define OUTPOST_STATS_FIELD_(name, help) ::outpost::Counter& name;
#define OUTPOST_STATS_MAKE_(name, help) registry.counter(prefix_ + #name "_total", help),
#define OUTPOST_STATS_JSON_(name, help) j[#name] = name.value();
#define OUTPOST_DEFINE_STATS(Struct, prefix, LIST)                               \
  struct Struct {                                                                \
    LIST(OUTPOST_STATS_FIELD_)                                                   \
    static Struct make(::outpost::MetricsRegistry& registry) {                   \
      const std::string prefix_ = prefix;                                        \
      return Struct{LIST(OUTPOST_STATS_MAKE_)};                                  \
    }                                                                            \
    nlohmann::json to_json() const {                                             \
      nlohmann::json j = nlohmann::json::object();                               \
      LIST(OUTPOST_STATS_JSON_)                                                  \
      return j;                                                                  \
    }                                                                            \
  }

}  // namespace outpost
