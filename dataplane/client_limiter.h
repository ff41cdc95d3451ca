#pragma once
// Per-client new-connection rate (tls.per_client_rate): a token bucket per source address
// with a burst of one second's worth. Bounded: when the table is full, clients whose
// buckets have refilled are forgotten (they would be admitted anyway).
#include <cstdint>
#include <unordered_map>

#include "common/net.h"

namespace outpost::dataplane {

class ClientRateLimiter {
 public:
  explicit ClientRateLimiter(unsigned per_second, size_t max_clients = 16384)
      : per_second_(per_second), max_clients_(max_clients) {}
  // One more connection from `client` at `now_ms` (a monotonic clock)? Takes a token if so.
  bool admit(const IpAddress& client, uint64_t now_ms);
  size_t tracked() const { return buckets_.size(); }
  unsigned per_second() const { return per_second_; }

 private:
  struct Bucket {
    uint64_t millitokens;
    uint64_t last_ms;
  };
  struct Hash {
    size_t operator()(const IpAddress& a) const;
  };
  void prune(uint64_t now_ms);
  uint64_t refilled(const Bucket& b, uint64_t now_ms) const;

  unsigned per_second_;
  size_t max_clients_;
  std::unordered_map<IpAddress, Bucket, Hash> buckets_;
};

}  // namespace outpost::dataplane
