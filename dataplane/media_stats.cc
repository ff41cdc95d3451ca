#include "dataplane/media_stats.h"

namespace outpost::media {

MediaDrops::MediaDrops(MetricsRegistry& registry) {
  for (size_t i = 0; i < counters_.size(); ++i)
    counters_[i] = &registry.counter("outpost_media_dropped_total", "media datagrams dropped, by reason",
                                     {{"reason", kMediaDropNames[i]}});
}

nlohmann::json MediaDrops::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  for (size_t i = 0; i < counters_.size(); ++i) j[kMediaDropNames[i]] = counters_[i]->value();
  return j;
}

}  // namespace outpost::media
