#pragma once
// Topology hiding of Call-IDs: devices often put their LAN address in the Call-ID
// (SIPp: "1-123@10.20.0.10"), and vendor servers theirs. A Call-ID born on the LAN leaves
// as "op<hash>" and comes back as the original; a Call-ID born at the vendor reaches the
// devices as "ov<hash>" and goes back to the vendor as the original.
#include <cstdint>
#include <unordered_map>
#include <set>
#include <string>
#include <string_view>

#include "sipalg/flow.h"

namespace outpost::sip {

class CallIds {
 public:
  // The Call-ID to use on the other side for a message that came from `from`. The reference
  // stays valid until expire().
  const std::string& translate(std::string_view call_id, Side from, int64_t now);
  // Forgets Call-IDs unused for `idle` seconds.
  void expire(int64_t now, int64_t idle = 24 * 3600);
  size_t size() const { return hidden_.size() + aliased_.size(); }

  static std::string hide(std::string_view call_id);   // LAN-born, as the vendor sees it
  static std::string alias(std::string_view call_id);  // vendor-born, as devices see it

 private:
  struct Entry {
    std::string other;
    int64_t last_used = 0;
  };
  // Looked up by the view into the parsed message: no copy of the Call-ID per message.
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Table = std::unordered_map<std::string, Entry, Hash, std::equal_to<>>;
  Table hidden_;     // LAN Call-ID -> hidden
  Table revealed_;   // hidden -> LAN Call-ID
  Table aliased_;    // vendor-born Call-ID -> alias
  Table unaliased_;  // alias -> vendor-born Call-ID
};

}  // namespace outpost::sip
