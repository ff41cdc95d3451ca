#include "sipalg/stats.h"

#include <cstring>

namespace outpost::sip {

namespace {
constexpr const char* kMethods[] = {"INVITE", "ACK",    "BYE",    "CANCEL", "REGISTER", "OPTIONS", "PRACK",
                                    "UPDATE", "INFO",   "SUBSCRIBE", "NOTIFY", "REFER", "MESSAGE", "PUBLISH"};
}

SipCounters::SipCounters(MetricsRegistry& registry) : stats(SipStats::make(registry)), registry_(registry) {
  for (size_t i = 0; i < drops_.size(); ++i)
    drops_[i] = &registry.counter("outpost_sip_dropped_total", "SIP messages dropped, by reason", {{"reason", kDropNames[i]}});
  for (const char* m : kMethods)
    methods_[m] = &registry.counter("outpost_sip_requests_total", "SIP requests received, by method", {{"method", m}});
  methods_["other"] = &registry.counter("outpost_sip_requests_total", "SIP requests received, by method", {{"method", "other"}});
  for (int c = 1; c <= 6; ++c)
    classes_[static_cast<size_t>(c - 1)] = &registry.counter("outpost_sip_responses_total", "SIP responses received, by class",
                                                             {{"class", std::to_string(c) + "xx"}});
}

void SipCounters::drop(const char* reason) {
  for (size_t i = 0; i < drops_.size(); ++i)
    if (!std::strcmp(reason, kDropNames[i])) return drops_[i]->inc();
}

void SipCounters::request(const std::string& method) {
  auto it = methods_.find(method);
  (it == methods_.end() ? methods_["other"] : it->second)->inc();
}

void SipCounters::response(int status) {
  if (status >= 100 && status < 700) classes_[static_cast<size_t>(status / 100 - 1)]->inc();
}

nlohmann::json SipCounters::to_json() const {
  nlohmann::json drops = nlohmann::json::object(), methods = nlohmann::json::object(), classes = nlohmann::json::object();
  uint64_t total = 0;
  for (size_t i = 0; i < drops_.size(); ++i) drops[kDropNames[i]] = drops_[i]->value(), total += drops_[i]->value();
  for (const auto& [m, c] : methods_) methods[m] = c->value();
  for (size_t i = 0; i < classes_.size(); ++i) classes[std::to_string(i + 1) + "xx"] = classes_[i]->value();
  return {{"counters", stats.to_json()}, {"dropped", drops}, {"dropped_total", total}, {"requests", methods},
          {"responses", classes}};
}

}  // namespace outpost::sip
