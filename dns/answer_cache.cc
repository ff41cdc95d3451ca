#include "dns/answer_cache.h"

#include <algorithm>

namespace outpost::dns {

size_t AnswerCache::make_key(uint8_t* buf, const WireName& qname, uint16_t qtype, uint16_t qclass, bool do_bit) {
  std::memcpy(buf, qname.wire().data(), qname.length());
  size_t n = qname.length();
  put16(buf + n, qtype);
  put16(buf + n + 2, qclass);
  buf[n + 4] = do_bit ? 1 : 0;
  return n + 5;
}

std::optional<AnswerCache::Hit> AnswerCache::find(const WireName& qname, uint16_t qtype, uint16_t qclass, bool do_bit,
                                                  uint64_t now_s) {
  uint8_t buf[kMaxNameLength + 5];
  std::string_view key(reinterpret_cast<const char*>(buf), make_key(buf, qname, qtype, qclass, do_bit));
  auto it = index_.find(key);
  if (it == index_.end()) return std::nullopt;
  Lru::iterator e = it->second;
  if (now_s >= e->expires_s) {
    erase(e);
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, e);
  return Hit{&e->answer, static_cast<uint32_t>(now_s - e->inserted_s)};
}

void AnswerCache::insert(const WireName& qname, uint16_t qtype, uint16_t qclass, bool do_bit, PreparedAnswer answer,
                         uint64_t now_s) {
  if (!answer.cacheable || max_entries_ == 0) return;
  uint8_t buf[kMaxNameLength + 5];
  std::string key(reinterpret_cast<const char*>(buf), make_key(buf, qname, qtype, qclass, do_bit));
  if (auto it = index_.find(key); it != index_.end()) erase(it->second);
  uint32_t ttl = std::min(answer.min_ttl, max_ttl_s_);
  lru_.push_front(Entry{std::move(key), std::move(answer), now_s, now_s + ttl});
  index_.emplace(lru_.front().key, lru_.begin());
  bytes_ += cost(lru_.front());
  while (!lru_.empty() && (lru_.size() > max_entries_ || bytes_ > max_bytes_)) erase(std::prev(lru_.end()));
}

void AnswerCache::erase(Lru::iterator it) {
  bytes_ -= cost(*it);
  index_.erase(it->key);
  lru_.erase(it);
}

void AnswerCache::clear() {
  index_.clear();
  lru_.clear();
  bytes_ = 0;
}

}  // namespace outpost::dns
