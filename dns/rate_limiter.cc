#include "dns/rate_limiter.h"

#include <algorithm>
#include <bit>

namespace outpost::dns {

RateLimiter::RateLimiter(unsigned per_second, unsigned burst, size_t sets)
    : per_second_(per_second), burst_(std::max(burst, per_second)) {
  sets = std::bit_ceil(std::max<size_t>(sets, 1));
  set_mask_ = sets - 1;
  if (enabled()) slots_.resize(sets * kWays);
}

RateLimiter::Key RateLimiter::key_of(const IpAddress& a) {
  if (a.is_v4()) return {0xFFFF, a.to_v4().to_uint()};
  auto b = a.to_v6().to_bytes();
  Key k{0, 0};
  for (int i = 0; i < 8; ++i) k.hi = k.hi << 8 | b[i];
  for (int i = 8; i < 16; ++i) k.lo = k.lo << 8 | b[i];
  return k;
}

uint64_t RateLimiter::refill(const Slot& s, uint64_t now_ms) const {
  uint64_t cap = static_cast<uint64_t>(burst_) * 1000;
  uint64_t elapsed = now_ms > s.last_ms ? now_ms - s.last_ms : 0;
  // elapsed ms x per_second tokens/s = millitokens; clamp before multiplying to avoid overflow.
  uint64_t gained = std::min<uint64_t>(elapsed, 3'600'000) * per_second_;
  return std::min(cap, s.millitokens + gained);
}

RateLimiter::Slot* RateLimiter::lookup(const Key& k, size_t set, uint64_t now_ms) {
  Slot* ways = &slots_[set * kWays];
  Slot* victim = &ways[0];
  for (unsigned w = 0; w < kWays; ++w) {
    Slot& s = ways[w];
    if (s.used && s.hi == k.hi && s.lo == k.lo) return &s;
    if (!s.used) victim = &s;
    else if (victim->used && s.last_ms < victim->last_ms) victim = &s;
  }
  // A new client (or one evicted earlier) starts with a full bucket.
  *victim = Slot{k.hi, k.lo, now_ms, static_cast<uint64_t>(burst_) * 1000, true};
  return victim;
}

static size_t set_of(uint64_t hi, uint64_t lo, size_t mask) {
  uint64_t h = (hi * 0x9E3779B97F4A7C15ull) ^ (lo * 0xC2B2AE3D27D4EB4Full);
  h ^= h >> 29;
  return static_cast<size_t>(h) & mask;
}

bool RateLimiter::admit(const IpAddress& client, uint64_t now_ms) {
  if (!enabled()) return true;
  Key k = key_of(client);
  Slot* s = lookup(k, set_of(k.hi, k.lo, set_mask_), now_ms);
  s->millitokens = refill(*s, now_ms);
  s->last_ms = std::max(s->last_ms, now_ms);
  if (s->millitokens < 1000) return false;
  s->millitokens -= 1000;
  return true;
}

bool RateLimiter::would_admit(const IpAddress& client, uint64_t now_ms) const {
  if (!enabled()) return true;
  Key k = key_of(client);
  const Slot* ways = &slots_[set_of(k.hi, k.lo, set_mask_) * kWays];
  for (unsigned w = 0; w < kWays; ++w)
    if (ways[w].used && ways[w].hi == k.hi && ways[w].lo == k.lo) return refill(ways[w], now_ms) >= 1000;
  return true;
}

size_t RateLimiter::tracked() const {
  return static_cast<size_t>(std::count_if(slots_.begin(), slots_.end(), [](const Slot& s) { return s.used; }));
}

}  // namespace outpost::dns
