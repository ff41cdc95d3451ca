#include "dataplane/stats.h"

namespace outpost::dataplane {

Counter& refusal_counter(TlsRefusalStats& stats, Refusal r) {
  switch (r) {
#define OUTPOST_TLS_COUNTER_(name, help) \
  case Refusal::name: return stats.name;
    OUTPOST_TLS_REFUSALS(OUTPOST_TLS_COUNTER_)
#undef OUTPOST_TLS_COUNTER_
  }
  return stats.connect_failed;  // unreachable: every enumerator is listed
}

NameTable::Entry& NameTable::entry(const std::string& name) {
  if (auto it = entries_.find(name); it != entries_.end()) return it->second;
  if (entries_.size() >= kMaxNames) return entries_["(other)"];
  return entries_[name];
}

nlohmann::json NameTable::to_json() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [name, e] : entries_)
    out.push_back({{"name", name},
                   {"connections", e.connections},
                   {"active", e.active},
                   {"bytes_to_vendor", e.bytes_to_vendor},
                   {"bytes_to_client", e.bytes_to_client},
                   {"failed", e.failed}});
  return out;
}

}  // namespace outpost::dataplane
