#include "dataplane/media_port_allocator.h"

namespace outpost::media {

PortAllocator::PortAllocator(PortRange range) : range_(range) {
  unsigned first = range.first + (range.first % 2);  // RTP ports are even (RFC 3550 11)
  first_even_ = uint16_t(first);
  // A pair needs both ports inside the range.
  unsigned pairs = (first + 1 <= range.last) ? (unsigned(range.last) - first + 1) / 2 : 0;
  used_.assign(pairs, false);
}

std::optional<uint16_t> PortAllocator::allocate() {
  const unsigned n = pairs_total();
  if (in_use_ >= n) return std::nullopt;
  for (unsigned i = 0; i < n; ++i) {
    unsigned slot = (next_ + i) % n;
    if (used_[slot]) continue;
    used_[slot] = true;
    ++in_use_;
    next_ = (slot + 1) % n;
    return uint16_t(first_even_ + 2 * slot);
  }
  return std::nullopt;  // unreachable: in_use_ < n means a free slot exists
}

void PortAllocator::release(uint16_t rtp_port) {
  if (rtp_port < first_even_ || (rtp_port - first_even_) % 2 != 0) return;
  unsigned slot = (rtp_port - first_even_) / 2;
  if (slot >= used_.size() || !used_[slot]) return;
  used_[slot] = false;
  --in_use_;
}

}  // namespace outpost::media
