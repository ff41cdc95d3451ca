#pragma once
// Per-client response rate limiting: a token bucket per client address, in a fixed table
// allocated once (no allocation per query; a flood from many sources evicts the least
// recently seen clients instead of growing memory).
#include <cstdint>
#include <vector>

#include "common/net.h"

namespace outpost::dns {

class RateLimiter {
 public:
  // per_second 0 = unlimited. burst >= per_second (the config loader ensures it).
  RateLimiter(unsigned per_second, unsigned burst, size_t sets = 4096);
  // One more answer for `client` at `now_ms` (a monotonic clock)? Takes a token if so.
  bool admit(const IpAddress& client, uint64_t now_ms);
  // Would `client` be admitted now? Takes nothing (for `dns lookup`).
  bool would_admit(const IpAddress& client, uint64_t now_ms) const;
  bool enabled() const { return per_second_ > 0; }
  unsigned per_second() const { return per_second_; }
  unsigned burst() const { return burst_; }
  size_t tracked() const;

 private:
  static constexpr unsigned kWays = 4;
  struct Slot {
    uint64_t hi = 0, lo = 0;   // the address (v4 mapped into v6 space)
    uint64_t last_ms = 0;
    uint64_t millitokens = 0;  // tokens x 1000
    bool used = false;
  };
  struct Key {
    uint64_t hi, lo;
  };
  static Key key_of(const IpAddress& a);
  uint64_t refill(const Slot& s, uint64_t now_ms) const;
  Slot* lookup(const Key& k, size_t set, uint64_t now_ms);

  unsigned per_second_;
  unsigned burst_;
  size_t set_mask_;
  std::vector<Slot> slots_;
};

}  // namespace outpost::dns
