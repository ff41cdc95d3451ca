#include "sipalg/rate_limit.h"

namespace outpost::sip {

namespace {
constexpr size_t kMaxTracked = 65536;
}

bool SourceRateLimit::admit(const IpAddress& source, Clock::time_point now) {
  if (per_second_ == 0) return true;
  if (buckets_.size() >= kMaxTracked) {
    // Forget sources whose bucket has refilled: they would be admitted anyway.
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      double idle = std::chrono::duration<double>(now - it->second.last).count();
      it = it->second.tokens + idle * per_second_ >= burst_ ? buckets_.erase(it) : std::next(it);
    }
    if (buckets_.size() >= kMaxTracked) return false;
  }
  auto [it, fresh] = buckets_.try_emplace(source, Bucket{double(burst_), now});
  Bucket& b = it->second;
  if (!fresh) {
    double elapsed = std::chrono::duration<double>(now - b.last).count();
    b.tokens = std::min(double(burst_), b.tokens + elapsed * per_second_);
    b.last = now;
  }
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

}  // namespace outpost::sip
