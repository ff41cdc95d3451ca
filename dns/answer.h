#pragma once
// act: replies written into the query's own buffer. The question stays where the client
// put it (so its letter case is echoed byte for byte); records are appended after it;
// nothing here allocates.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "dns/rules.h"
#include "dns/wire.h"

namespace outpost::dns {

constexpr size_t kOptRecordSize = 11;

// The most a reply may hold: 512 without EDNS, the client's EDNS size capped at 1232 over
// UDP, 65535 over TCP.
size_t reply_limit(const ParsedQuery& q, bool tcp);

// Header and question only, with `rcode`: REFUSED, FORMERR, NOTIMP, SERVFAIL, BADVERS.
// The question is kept when it parsed. RA is set unless the client is refused outright.
size_t write_error_reply(uint8_t* buf, size_t cap, const ParsedQuery& q, unsigned rcode, bool recursion_available);

// The synthesised answer for a rule: A/AAAA from the target (NOERROR with no data for a
// missing family and for every other type, HTTPS/SVCB included), AA set, owner names are
// pointers to the question.
size_t write_rewrite(uint8_t* buf, size_t cap, const ParsedQuery& q, const RewriteTarget& t, uint32_t ttl);

// RFC 8482 answer to qtype ANY for names without a rule: one HINFO "RFC8482" "".
size_t write_minimal_any(uint8_t* buf, size_t cap, const ParsedQuery& q, uint32_t ttl);

// Appends our OPT record (UDP size 1232, DO echoed) when the query had EDNS and enforces
// `limit`: a reply that does not fit keeps header and question, loses its records, gets TC.
// `rcode` is the full (extended) rcode; its upper bits go into the OPT record (BADVERS).
size_t finish_reply(uint8_t* buf, size_t len, size_t cap, const ParsedQuery& q, size_t limit, bool* truncated,
                    unsigned rcode = 0);

// An upstream answer made ready for LAN clients (upstream_answer.h builds it): no OPT,
// ID 0, RD/CD clear, the question as first asked (lower case).
struct PreparedAnswer {
  std::vector<uint8_t> packet;
  std::vector<uint16_t> ttl_offsets;  // every record's TTL field, counted down when served from the cache
  size_t question_end = 0;
  uint32_t min_ttl = 0;
  unsigned rcode = 0;
  bool cacheable = false;
  bool rewritten = false;       // a vendor name's records were replaced by the rewrite
  unsigned hints_stripped = 0;  // ipv4hint/ipv6hint parameters removed from HTTPS/SVCB
  unsigned records_dropped = 0; // vendor-owned or DNSSEC records removed
};

// Writes `a` as the reply to `q`, `age_s` seconds after it was received: the client's ID,
// RD and CD, the client's question bytes (`question`, or those already at buf+12 when
// null), TTLs counted down, then finish_reply(). Returns 0 if `a` does not answer `q`.
size_t serve_prepared(uint8_t* buf, size_t cap, const PreparedAnswer& a, const ParsedQuery& q,
                      const uint8_t* question, uint32_t age_s, size_t limit, bool* truncated);

}  // namespace outpost::dns
