#pragma once
// The front-end answer cache: prepared upstream answers by (name, type, class, DO), kept
// for their smallest TTL and served with TTLs counted down. It exists because libunbound
// keeps its own cache behind a thread hop (request pipe, worker, answer pipe) that costs more
// per query than the whole kernel UDP path; a hit here is a hash lookup and a memcpy.
// libunbound exposes no cache statistics, so this cache's hit rate is the one reported.
// LRU with an entry and byte limit; lookups do not allocate.
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "dns/answer.h"
#include "dns/wire.h"

namespace outpost::dns {

class AnswerCache {
 public:
  explicit AnswerCache(size_t max_entries = 20000, size_t max_bytes = 32u << 20, uint32_t max_ttl_s = 86400)
      : max_entries_(max_entries), max_bytes_(max_bytes), max_ttl_s_(max_ttl_s) {}

  struct Hit {
    const PreparedAnswer* answer;
    uint32_t age_s;
  };
  // The entry for the question if fresh at `now_s`; an expired one is dropped.
  std::optional<Hit> find(const WireName& qname, uint16_t qtype, uint16_t qclass, bool do_bit, uint64_t now_s);
  void insert(const WireName& qname, uint16_t qtype, uint16_t qclass, bool do_bit, PreparedAnswer answer,
              uint64_t now_s);
  void clear();
  size_t entries() const { return lru_.size(); }
  size_t bytes() const { return bytes_; }

 private:
  struct Entry {
    std::string key;
    PreparedAnswer answer;
    uint64_t inserted_s;
    uint64_t expires_s;
  };
  using Lru = std::list<Entry>;
  static size_t make_key(uint8_t* buf, const WireName& qname, uint16_t qtype, uint16_t qclass, bool do_bit);
  static size_t cost(const Entry& e) { return e.key.size() + e.answer.packet.size() + 2 * e.answer.ttl_offsets.size() + 128; }
  void erase(Lru::iterator it);

  size_t max_entries_;
  size_t max_bytes_;
  uint32_t max_ttl_s_;
  size_t bytes_ = 0;
  Lru lru_;  // most recently used first
  std::unordered_map<std::string_view, Lru::iterator> index_;  // views into Entry::key
};

}  // namespace outpost::dns
