#include "common/metrics.h"

#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace outpost {
namespace {

std::string escape_label_value(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string escape_help(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

bool valid_name(const std::string& name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::string render_labels(const Labels& labels) {
  if (labels.empty()) return {};
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ",";
    out += labels[i].first + "=\"" + escape_label_value(labels[i].second) + "\"";
  }
  return out + "}";
}

GaugeCallbackHandle& GaugeCallbackHandle::operator=(GaugeCallbackHandle&& other) noexcept {
  if (this != &other) {
    reset();
    registry_ = std::exchange(other.registry_, nullptr);
    id_ = std::exchange(other.id_, 0);
  }
  return *this;
}

void GaugeCallbackHandle::reset() {
  if (registry_) registry_->remove_callback(id_);
  registry_ = nullptr;
  id_ = 0;
}

MetricsRegistry::Family& MetricsRegistry::family(const std::string& name, const std::string& help,
                                                 Type type) {
  if (!valid_name(name)) throw std::logic_error("invalid metric name: " + name);
  auto [it, inserted] = families_.try_emplace(name, Family{type, help, {}});
  if (!inserted && it->second.type != type)
    throw std::logic_error("metric registered with two types: " + name);
  return it->second;
}

Counter& MetricsRegistry::counter(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mutex_);
  Series& s = family(name, help, Type::counter).series[render_labels(labels)];
  if (!s.counter) s.counter = std::make_unique<Counter>();
  return *s.counter;
}

Gauge& MetricsRegistry::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mutex_);
  Series& s = family(name, help, Type::gauge).series[render_labels(labels)];
  if (!s.gauge) s.gauge = std::make_unique<Gauge>();
  return *s.gauge;
}

GaugeCallbackHandle MetricsRegistry::gauge_callback(const std::string& name, const std::string& help,
                                                    const Labels& labels, std::function<double()> fn) {
  std::lock_guard lock(mutex_);
  std::string key = render_labels(labels);
  Series& s = family(name, help, Type::gauge).series[key];
  uint64_t id = next_callback_id_++;
  s.callbacks[id] = std::move(fn);
  callback_index_[id] = {name, key};
  return GaugeCallbackHandle(this, id);
}

void MetricsRegistry::remove_callback(uint64_t id) {
  std::lock_guard lock(mutex_);
  auto it = callback_index_.find(id);
  if (it == callback_index_.end()) return;
  auto fam = families_.find(it->second.first);
  if (fam != families_.end()) {
    auto series = fam->second.series.find(it->second.second);
    if (series != fam->second.series.end()) {
      series->second.callbacks.erase(id);
      if (series->second.callbacks.empty() && !series->second.gauge && !series->second.counter)
        fam->second.series.erase(series);
    }
  }
  callback_index_.erase(it);
}

std::string MetricsRegistry::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& [name, fam] : families_) {
    if (fam.series.empty()) continue;
    out += "# HELP " + name + " " + escape_help(fam.help) + "\n";
    out += "# TYPE " + name + (fam.type == Type::counter ? " counter\n" : " gauge\n");
    for (const auto& [labels, s] : fam.series) {
      double v = 0;
      if (s.counter) v = static_cast<double>(s.counter->value());
      else if (!s.callbacks.empty()) v = s.callbacks.rbegin()->second();  // newest owner wins
      else if (s.gauge) v = s.gauge->value();
      out += name + labels + " " + format_value(v) + "\n";
    }
  }
  return out;
}

std::optional<double> MetricsRegistry::value(const std::string& name, const Labels& labels) const {
  std::lock_guard lock(mutex_);
  auto fam = families_.find(name);
  if (fam == families_.end()) return std::nullopt;
  auto s = fam->second.series.find(render_labels(labels));
  if (s == fam->second.series.end()) return std::nullopt;
  if (s->second.counter) return static_cast<double>(s->second.counter->value());
  if (!s->second.callbacks.empty()) return s->second.callbacks.rbegin()->second();
  if (s->second.gauge) return s->second.gauge->value();
  return std::nullopt;
}

}  // namespace outpost
