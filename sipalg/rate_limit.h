#pragma once
// decide, LAN side: a token bucket per source address (sip.rate_limit: per_second, burst;
// 0 = off). A flood from one device or scanner is dropped and counted before it is parsed;
// the vendor side is never limited (one server carries every device's traffic).
#include <chrono>
#include <map>

#include "common/net.h"

namespace outpost::sip {

class SourceRateLimit {
 public:
  using Clock = std::chrono::steady_clock;
  void configure(unsigned per_second, unsigned burst) { per_second_ = per_second, burst_ = burst ? burst : per_second; }
  bool admit(const IpAddress& source, Clock::time_point now);
  size_t tracked() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point last;
  };
  unsigned per_second_ = 0, burst_ = 0;
  std::map<IpAddress, Bucket> buckets_;
};

}  // namespace outpost::sip
