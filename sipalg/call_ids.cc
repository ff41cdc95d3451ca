#include "sipalg/call_ids.h"
#include "sipalg/token_text.h"

#include <cstdio>

namespace outpost::sip {

std::string CallIds::hide(const std::string& call_id) {
  // Deterministic (FNV-1a 64): the same dialog keeps the same hidden Call-ID even if
  // the table is lost; the LAN text itself never leaves.
  std::string hidden = "op";
  append_hex(hidden, fnv1a(call_id), 16);
  return hidden;
}

std::string CallIds::alias(const std::string& call_id) {
  std::string h = hide(call_id);
  h[1] = 'v';
  return h;
}

std::string CallIds::translate(const std::string& call_id, Side from, int64_t now) {
  if (from == Side::uplink) {
    if (auto it = revealed_.find(call_id); it != revealed_.end()) {
      it->second.last_used = now;
      return it->second.other;
    }
    if (auto it = aliased_.find(call_id); it != aliased_.end()) {
      it->second.last_used = now;
      return it->second.other;
    }
    std::string a = alias(call_id);
    aliased_[call_id] = {a, now};
    unaliased_[a] = {call_id, now};
    return a;
  }
  if (auto it = hidden_.find(call_id); it != hidden_.end()) {
    it->second.last_used = now;
    return it->second.other;
  }
  if (auto it = unaliased_.find(call_id); it != unaliased_.end()) {
    it->second.last_used = now;
    return it->second.other;
  }
  std::string h = hide(call_id);
  hidden_[call_id] = {h, now};
  revealed_[h] = {call_id, now};
  return h;
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
