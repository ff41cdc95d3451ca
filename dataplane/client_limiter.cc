#include "dataplane/client_limiter.h"

#include <algorithm>
#include <functional>

namespace outpost::dataplane {

size_t ClientRateLimiter::Hash::operator()(const IpAddress& a) const {
  if (a.is_v4()) return std::hash<uint32_t>{}(a.to_v4().to_uint());
  auto b = a.to_v6().to_bytes();
  return std::hash<std::string_view>{}(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
}

uint64_t ClientRateLimiter::refilled(const Bucket& b, uint64_t now_ms) const {
  uint64_t cap = uint64_t(per_second_) * 1000;
  uint64_t elapsed = now_ms > b.last_ms ? now_ms - b.last_ms : 0;
  return std::min(cap, b.millitokens + elapsed * per_second_);
}

void ClientRateLimiter::prune(uint64_t now_ms) {
  uint64_t cap = uint64_t(per_second_) * 1000;
  std::erase_if(buckets_, [&](const auto& kv) { return refilled(kv.second, now_ms) >= cap; });
}

bool ClientRateLimiter::admit(const IpAddress& client, uint64_t now_ms) {
  if (per_second_ == 0) return true;
  auto it = buckets_.find(client);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_clients_) prune(now_ms);
    if (buckets_.size() >= max_clients_) return false;  // a flood of sources: refuse new ones
    it = buckets_.emplace(client, Bucket{uint64_t(per_second_) * 1000, now_ms}).first;
  }
  Bucket& b = it->second;
  b.millitokens = refilled(b, now_ms);
  b.last_ms = now_ms;
  if (b.millitokens < 1000) return false;
  b.millitokens -= 1000;
  return true;
}

}  // namespace outpost::dataplane
