#include "dns/answer.h"

#include <algorithm>

namespace outpost::dns {
namespace {

constexpr uint16_t kQuestionPointer = 0xC000 | kHeaderSize;

uint16_t reply_flags(const Header& query, unsigned rcode, bool aa, bool ra) {
  uint16_t f = flag::qr | (query.flags & 0x7800) | (query.flags & (flag::rd | flag::cd)) | (rcode & 0xF);
  if (aa) f |= flag::aa;
  if (ra) f |= flag::ra;
  return f;
}

void write_header(uint8_t* buf, const ParsedQuery& q, uint16_t flags, uint16_t an) {
  Header h;
  h.id = q.header.id;
  h.flags = flags;
  h.qdcount = q.has_question() ? 1 : 0;
  h.ancount = an;
  h.write(buf);
}

void address_record(WireWriter& w, uint16_t type, uint32_t ttl, const uint8_t* addr, uint16_t len) {
  w.u16(kQuestionPointer);
  w.u16(type);
  w.u16(qclass::IN);
  w.u32(ttl);
  w.u16(len);
  w.bytes(addr, len);
}

}  // namespace

size_t reply_limit(const ParsedQuery& q, bool tcp) {
  if (tcp) return 65535;
  if (!q.edns.present) return kPlainUdpLimit;
  return std::clamp<size_t>(q.edns.udp_size, kPlainUdpLimit, kOurUdpSize);
}

size_t write_error_reply(uint8_t* buf, size_t cap, const ParsedQuery& q, unsigned rcode, bool recursion_available) {
  if (cap < q.question_end) return 0;
  write_header(buf, q, reply_flags(q.header, rcode, false, recursion_available), 0);
  return q.question_end;
}

size_t write_rewrite(uint8_t* buf, size_t cap, const ParsedQuery& q, const RewriteTarget& t, uint32_t ttl) {
  WireWriter w(buf, cap, q.question_end);
  uint16_t an = 0;
  bool any = q.qtype == qtype::ANY;
  if ((q.qtype == qtype::A || any) && t.v4) {
    auto b = t.v4->to_bytes();
    address_record(w, qtype::A, ttl, b.data(), 4), ++an;
  }
  if ((q.qtype == qtype::AAAA || any) && t.v6) {
    auto b = t.v6->to_bytes();
    address_record(w, qtype::AAAA, ttl, b.data(), 16), ++an;
  }
  if (w.overflowed()) return 0;
  write_header(buf, q, reply_flags(q.header, 0, true, true), an);
  return w.size();
}

size_t write_minimal_any(uint8_t* buf, size_t cap, const ParsedQuery& q, uint32_t ttl) {
  static constexpr uint8_t hinfo[] = {7, 'R', 'F', 'C', '8', '4', '8', '2', 0};
  WireWriter w(buf, cap, q.question_end);
  w.u16(kQuestionPointer);
  w.u16(qtype::HINFO);
  w.u16(qclass::IN);
  w.u32(ttl);
  w.u16(sizeof hinfo);
  w.bytes(hinfo, sizeof hinfo);
  if (w.overflowed()) return 0;
  write_header(buf, q, reply_flags(q.header, 0, true, true), 1);
  return w.size();
}

size_t finish_reply(uint8_t* buf, size_t len, size_t cap, const ParsedQuery& q, size_t limit, bool* truncated,
                    unsigned rcode) {
  if (len < kHeaderSize) return 0;
  size_t opt = q.edns.present ? kOptRecordSize : 0;
  if (truncated) *truncated = false;
  if (len + opt > limit) {
    // Too big for this client: header and question only, with TC, so it retries over TCP.
    len = q.question_end;
    put16(buf + 2, get16(buf + 2) | flag::tc);
    put16(buf + 6, 0), put16(buf + 8, 0), put16(buf + 10, 0);
    if (truncated) *truncated = true;
  }
  if (!opt) return len;
  if (cap - len < opt) return 0;
  uint8_t* p = buf + len;
  p[0] = 0;  // root owner
  put16(p + 1, qtype::OPT);
  put16(p + 3, kOurUdpSize);
  // Extended rcode: BADVERS (16) is header rcode 0 plus 1 here.
  p[5] = static_cast<uint8_t>(rcode >> 4);
  p[6] = 0;  // version
  put16(p + 7, q.edns.do_bit ? 0x8000 : 0);
  put16(p + 9, 0);
  put16(buf + 10, static_cast<uint16_t>(get16(buf + 10) + 1));
  return len + opt;
}

size_t serve_prepared(uint8_t* buf, size_t cap, const PreparedAnswer& a, const ParsedQuery& q,
                      const uint8_t* question, uint32_t age_s, size_t limit, bool* truncated) {
  size_t qlen = q.question_end - kHeaderSize;
  if (a.question_end != q.question_end || a.packet.size() < a.question_end || cap < q.question_end) return 0;
  if (question) std::memcpy(buf + kHeaderSize, question, qlen);
  const uint8_t* src = a.packet.data();
  uint16_t flags = get16(src + 2) & ~(flag::rd | flag::cd | flag::tc);
  flags |= q.header.flags & (flag::rd | flag::cd);
  // AD only for clients that can use it (RFC 6840 5.8).
  if (!q.header.has(flag::ad) && !q.edns.do_bit) flags &= ~flag::ad;
  size_t opt = q.edns.present ? kOptRecordSize : 0;
  if (a.packet.size() + opt > limit || a.packet.size() > cap) {
    Header h{q.header.id, static_cast<uint16_t>(flags | flag::tc), 1, 0, 0, 0};
    h.write(buf);
    if (truncated) *truncated = true;
    return finish_reply(buf, q.question_end, cap, q, limit, nullptr);
  }
  std::memcpy(buf, src, kHeaderSize);
  std::memcpy(buf + q.question_end, src + q.question_end, a.packet.size() - q.question_end);
  put16(buf, q.header.id);
  put16(buf + 2, flags);
  for (uint16_t off : a.ttl_offsets) {
    uint32_t ttl = get32(src + off);
    put32(buf + off, ttl > age_s ? ttl - age_s : 0);
  }
  return finish_reply(buf, a.packet.size(), cap, q, limit, truncated);
}

}  // namespace outpost::dns
