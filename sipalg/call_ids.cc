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
  // Call-IDs born on this side and the names outpost gave them; the names outpost gave the
  // other side's Call-IDs, which come back from this side.
  Table& originals = from == Side::uplink ? aliased_ : hidden_;  // original -> name
  Table& names = from == Side::uplink ? revealed_ : unaliased_;  // name -> original
  // Looked up in this order since the first version: a vendor's in-dialog request carries
  // outpost's name most of the time, a device's its own original.
  Table& first = from == Side::uplink ? names : originals;
  Table& second = from == Side::uplink ? originals : names;
  for (Table* table : {&first, &second}) {
    if (auto it = table->find(call_id); it != table->end()) {
      it->second.last_used = now;
      return it->second.other;
    }
  }
  std::string name = from == Side::uplink ? alias(call_id) : hide(call_id);
  Table& back = from == Side::uplink ? unaliased_ : revealed_;  // where this side's names resolve
  back[name] = {std::string(call_id), now};
  return originals.insert_or_assign(std::string(call_id), Entry{std::move(name), now}).first->second.other;
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
