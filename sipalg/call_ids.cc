#include "sipalg/call_ids.h"
#include "sipalg/token_text.h"

#include <cstdio>

namespace outpost::sip {

std::string CallIds::hide(std::string_view call_id) {
  // Deterministic (FNV-1a 64): the same dialog keeps the same hidden Call-ID even if
  // the table is lost; the LAN text itself never leaves.
  std::string hidden = "op";
  append_hex(hidden, fnv1a(call_id), 16);
  return hidden;
}

std::string CallIds::alias(std::string_view call_id) {
  std::string h = hide(call_id);
  h[1] = 'v';
  return h;
}

const std::string& CallIds::translate(std::string_view call_id, Side from, int64_t now) {
  // Seen before: a name outpost gave (back to the original) or an original it named.
  Table& known = from == Side::uplink ? revealed_ : hidden_;
  Table& foreign = from == Side::uplink ? aliased_ : unaliased_;
  if (auto it = known.find(call_id); it != known.end()) {
    it->second.last_used = now;
    return it->second.other;
  }
  if (auto it = foreign.find(call_id); it != foreign.end()) {
    it->second.last_used = now;
    return it->second.other;
  }
  std::string fresh = from == Side::uplink ? alias(call_id) : hide(call_id);
  Table& forward = from == Side::uplink ? aliased_ : hidden_;
  Table& backward = from == Side::uplink ? unaliased_ : revealed_;
  backward[fresh] = {std::string(call_id), now};
  return forward.insert_or_assign(std::string(call_id), Entry{std::move(fresh), now}).first->second.other;
}

void CallIds::expire(int64_t now, int64_t idle) {
  for (auto it = hidden_.begin(); it != hidden_.end();) {
    if (it->second.last_used + idle > now) {
      ++it;
      continue;
    }
    revealed_.erase(it->second.other);
    it = hidden_.erase(it);
  }
  for (auto it = aliased_.begin(); it != aliased_.end();) {
    if (it->second.last_used + idle > now) {
      ++it;
      continue;
    }
    unaliased_.erase(it->second.other);
    it = aliased_.erase(it);
  }
}

}  // namespace outpost::sip
