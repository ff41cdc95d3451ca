#pragma once
// RTP/RTCP port pairs from one configured range (media.lan_ports or media.uplink_ports):
// an even RTP port and RTCP on the next one, handed out round robin so a freed pair is not
// reused at once (late packets of the old call must not land in the new one).
#include <cstdint>
#include <optional>
#include <vector>

#include "common/net.h"

namespace outpost::media {

class PortAllocator {
 public:
  explicit PortAllocator(PortRange range);

  // The next free pair's RTP port (even; RTCP = +1), nullopt when the range is exhausted.
  std::optional<uint16_t> allocate();
  // Gives a pair back; a port not handed out by this allocator is ignored.
  void release(uint16_t rtp_port);

  const PortRange& range() const { return range_; }
  unsigned pairs_total() const { return unsigned(used_.size()); }
  unsigned pairs_in_use() const { return in_use_; }
  unsigned pairs_free() const { return pairs_total() - in_use_; }

 private:
  PortRange range_;
  uint16_t first_even_ = 0;
  std::vector<bool> used_;  // one entry per pair, index = (port - first_even_) / 2
  unsigned next_ = 0;       // where the round-robin search starts
  unsigned in_use_ = 0;
};

}  // namespace outpost::media
