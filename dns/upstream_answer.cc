#include "dns/upstream_answer.h"

#include <algorithm>

namespace outpost::dns {
namespace {

constexpr unsigned kMaxChain = 16;
constexpr uint16_t kKeyIpv4Hint = 4, kKeyIpv6Hint = 6;

bool is_dnssec_type(uint16_t t) { return t == qtype::RRSIG || t == qtype::NSEC || t == qtype::NSEC3; }

// Types whose RDATA may hold compressed names (RFC 3597 section 4), plus the few later
// types that hold uncompressed names we still rewrite with fresh offsets.
enum class NameLayout { none, one, mx_like, soa, two, srv };
NameLayout layout_of(uint16_t t) {
  switch (t) {
    case qtype::NS: case qtype::MD: case qtype::MF: case qtype::CNAME: case qtype::MB: case qtype::MG:
    case qtype::MR: case qtype::PTR: case qtype::DNAME:
      return NameLayout::one;
    case qtype::MX: return NameLayout::mx_like;
    case qtype::SOA: return NameLayout::soa;
    case qtype::MINFO: return NameLayout::two;
    case qtype::SRV: return NameLayout::srv;
    default: return NameLayout::none;
  }
}

// The name inside a record's RDATA at `pos`, which must end inside the RDATA.
bool rdata_name(std::span<const uint8_t> msg, const RecordView& rr, size_t& pos, WireName& out) {
  return read_name(msg, pos, out) == WireError::none && pos <= rr.end;
}

struct SvcbTarget {
  WireName target;
  size_t params = 0;  // offset of the first SvcParam
};

bool read_svcb(std::span<const uint8_t> msg, const RecordView& rr, SvcbTarget& s) {
  if (rr.rdlength < 3) return false;
  size_t pos = rr.rdata_offset + 2;
  if (read_name(msg.first(rr.end), pos, s.target, false) != WireError::none) return false;
  s.params = pos;
  return true;
}

// Would this HTTPS/SVCB record tell a client where the vendor really is?
bool hint_leaks(std::span<const uint8_t> msg, const RecordView& rr, const SvcbTarget& s, const Policy& policy) {
  bool vendor_target = policy.rules().find(s.target) != nullptr;
  for (size_t p = s.params; p + 4 <= rr.end;) {
    uint16_t key = get16(&msg[p]), len = get16(&msg[p + 2]);
    // A parameter list we cannot walk might hide a hint: treat it as leaking, so the
    // record is rebuilt (and refused there) rather than passed through.
    if (p + 4 + len > rr.end) return true;
    if (key == kKeyIpv4Hint || key == kKeyIpv6Hint) {
      if (vendor_target) return true;
      size_t step = key == kKeyIpv4Hint ? 4 : 16;
      for (size_t a = p + 4; a + step <= p + 4 + len; a += step) {
        IpAddress addr;
        if (step == 4) {
          boost::asio::ip::address_v4::bytes_type b;
          std::copy_n(&msg[a], 4, b.begin());
          addr = boost::asio::ip::address_v4(b);
        } else {
          boost::asio::ip::address_v6::bytes_type b;
          std::copy_n(&msg[a], 16, b.begin());
          addr = boost::asio::ip::address_v6(b);
        }
        if (policy.in_vendor_prefixes(addr)) return true;
      }
    }
    p += 4 + len;
  }
  return false;
}

class Rebuilder {
 public:
  Rebuilder(std::span<const uint8_t> msg, const UpstreamQuestion& q, const Policy& policy, PreparedAnswer& out)
      : msg_(msg), q_(q), policy_(policy), out_(out), w_(out.packet.data(), out.packet.size()) {}

  void question() {
    w_.bytes(msg_.data(), kHeaderSize);  // header rewritten at the end
    w_.name(q_.qname);
    w_.u16(q_.qtype);
    w_.u16(q_.qclass);
    out_.question_end = w_.size();
  }

  // Copies one record, names uncompressed; false if its RDATA does not parse.
  bool copy(const RecordView& rr, Section s) {
    begin(rr.owner, rr.type, rr.klass, rr.ttl);
    size_t len_at = w_.size();
    w_.u16(0);
    size_t start = w_.size();
    if (!copy_rdata(rr)) return false;
    w_.patch16(len_at, static_cast<uint16_t>(w_.size() - start));
    ++counts_[static_cast<int>(s)];
    return true;
  }

  void address(const WireName& owner, uint16_t type, uint32_t ttl, const uint8_t* addr, uint16_t len) {
    begin(owner, type, qclass::IN, ttl);
    w_.u16(len);
    w_.bytes(addr, len);
    ++counts_[0];
  }

  bool finish(uint16_t flags) {
    if (w_.overflowed()) return false;
    Header h{0, flags, 1, counts_[0], counts_[1], counts_[2]};
    h.write(out_.packet.data());
    out_.packet.resize(w_.size());
    return true;
  }

 private:
  void begin(const WireName& owner, uint16_t type, uint16_t klass, uint32_t ttl) {
    if (owner == q_.qname) w_.pointer(kHeaderSize);
    else w_.name(owner);
    w_.u16(type);
    w_.u16(klass);
    out_.ttl_offsets.push_back(static_cast<uint16_t>(w_.size()));
    out_.min_ttl = std::min(out_.min_ttl, ttl);
    w_.u32(ttl);
  }

  bool copy_rdata(const RecordView& rr) {
    size_t pos = rr.rdata_offset;
    WireName n;
    auto name = [&] {
      if (!rdata_name(msg_, rr, pos, n)) return false;
      w_.name(n);
      return true;
    };
    auto raw = [&](size_t count) {
      if (rr.end - pos < count) return false;
      w_.bytes(&msg_[pos], count);
      pos += count;
      return true;
    };
    switch (layout_of(rr.type)) {
      case NameLayout::one: if (!name()) return false; break;
      case NameLayout::mx_like: if (!raw(2) || !name()) return false; break;
      case NameLayout::soa: if (!name() || !name() || !raw(20)) return false; break;
      case NameLayout::two: if (!name() || !name()) return false; break;
      case NameLayout::srv: if (!raw(6) || !name()) return false; break;
      case NameLayout::none:
        if (rr.type == qtype::SVCB || rr.type == qtype::HTTPS) return copy_svcb(rr);
        break;
    }
    return raw(rr.end - pos);
  }

  bool copy_svcb(const RecordView& rr) {
    SvcbTarget s;
    if (!read_svcb(msg_, rr, s)) return false;
    bool strip = hint_leaks(msg_, rr, s, policy_);
    w_.bytes(&msg_[rr.rdata_offset], 2);
    w_.name(s.target);
    for (size_t p = s.params; p + 4 <= rr.end;) {
      uint16_t key = get16(&msg_[p]), len = get16(&msg_[p + 2]);
      if (p + 4 + len > rr.end) return false;
      if (strip && (key == kKeyIpv4Hint || key == kKeyIpv6Hint)) ++out_.hints_stripped;
      else w_.bytes(&msg_[p], 4u + len);
      p += 4 + len;
    }
    return true;
  }

  std::span<const uint8_t> msg_;
  const UpstreamQuestion& q_;
  const Policy& policy_;
  PreparedAnswer& out_;
  WireWriter w_;
  uint16_t counts_[3] = {0, 0, 0};
};

// The CNAME target in a record's RDATA.
bool cname_target(std::span<const uint8_t> msg, const RecordView& rr, WireName& out) {
  size_t pos = rr.rdata_offset;
  return rdata_name(msg, rr, pos, out);
}

void mark_cacheable(PreparedAnswer& out) {
  out.cacheable = (out.rcode == 0 || out.rcode == 3) && !out.ttl_offsets.empty() && out.min_ttl > 0;
}

}  // namespace

bool prepare_upstream_answer(std::span<const uint8_t> upstream, const UpstreamQuestion& q, const Policy& policy,
                             PreparedAnswer& out) {
  out = PreparedAnswer{};
  out.min_ttl = UINT32_MAX;
  RecordReader reader;
  if (reader.open(upstream) != WireError::none) return false;
  const Header& h = reader.header();
  if (!h.has(flag::qr) || h.opcode() != 0) return false;
  out.rcode = h.rcode();
  if (!reader.has_question()) {
    // libunbound reports SERVFAIL as a bare header: answer with our question and its rcode.
    if (out.rcode == 0 || h.ancount || h.nscount) return false;
    out.packet.resize(kHeaderSize + q.qname.length() + 4);
    WireWriter w(out.packet.data(), out.packet.size(), kHeaderSize);
    Header rh{0, static_cast<uint16_t>(flag::qr | flag::ra | out.rcode), 1, 0, 0, 0};
    rh.write(out.packet.data());
    w.name(q.qname), w.u16(q.qtype), w.u16(q.qclass);
    out.question_end = w.size();
    out.min_ttl = 0;
    return true;
  }
  if (!(reader.qname() == q.qname) || reader.qtype() != q.qtype || reader.qclass() != q.qclass) return false;

  std::vector<RecordView> records;
  RecordView rr;
  while (reader.next(rr)) records.push_back(rr);
  if (reader.error() != WireError::none) return false;

  // Follow the CNAME chain from the question; stop at the first vendor name.
  std::vector<size_t> chain;
  const NameRule* vendor_rule = nullptr;
  WireName current = q.qname, target;
  for (unsigned hop = 0; hop < kMaxChain && !vendor_rule; ++hop) {
    auto it = std::find_if(records.begin(), records.end(), [&](const RecordView& r) {
      return r.section == Section::answer && r.type == qtype::CNAME && r.owner == current;
    });
    if (it == records.end() || std::find(chain.begin(), chain.end(), size_t(it - records.begin())) != chain.end())
      break;
    if (!cname_target(upstream, *it, target)) return false;
    chain.push_back(static_cast<size_t>(it - records.begin()));
    vendor_rule = policy.rules().find(target);
    current = target;
  }

  // Does anything need changing? Otherwise the packet goes out as libunbound built it.
  bool rebuild = vendor_rule != nullptr;
  size_t opt_at = 0;
  for (size_t i = 0; i < records.size() && !rebuild; ++i) {
    const RecordView& r = records[i];
    if (r.type == qtype::OPT) {
      if (i + 1 != records.size() || r.section != Section::additional) rebuild = true;
      opt_at = r.offset;
      continue;
    }
    if (policy.rules().find(r.owner)) rebuild = true;
    else if (!q.client_do && is_dnssec_type(r.type) && r.type != q.qtype) rebuild = true;
    else if (r.type == qtype::SVCB || r.type == qtype::HTTPS) {
      SvcbTarget s;
      if (!read_svcb(upstream, r, s)) return false;
      rebuild = hint_leaks(upstream, r, s, policy);
    }
  }

  if (!rebuild) {
    size_t end = opt_at ? opt_at : reader.position();
    out.packet.assign(upstream.begin(), upstream.begin() + static_cast<std::ptrdiff_t>(end));
    out.question_end = reader.question_end();
    Header oh = h;
    oh.id = 0;
    oh.flags &= ~(flag::rd | flag::cd | flag::tc);
    if (opt_at) --oh.arcount;
    oh.write(out.packet.data());
    // Our lower-case question, same length as libunbound's.
    std::copy(q.qname.wire().begin(), q.qname.wire().end(), out.packet.begin() + kHeaderSize);
    for (const auto& r : records) {
      if (r.type == qtype::OPT) continue;
      out.ttl_offsets.push_back(static_cast<uint16_t>(r.ttl_offset));
      out.min_ttl = std::min(out.min_ttl, r.ttl);
    }
    if (out.ttl_offsets.empty()) out.min_ttl = 0;
    mark_cacheable(out);
    return true;
  }

  out.packet.resize(65535);
  Rebuilder b(upstream, q, policy, out);
  b.question();
  uint16_t flags = static_cast<uint16_t>(h.flags & ~(flag::rd | flag::cd | flag::tc));
  if (vendor_rule) {
    for (size_t i : chain)
      if (!b.copy(records[i], Section::answer)) return false;
    const RewriteTarget& t = vendor_rule->target();
    if (q.qtype == qtype::A && t.v4) {
      auto a = t.v4->to_bytes();
      b.address(current, qtype::A, policy.ttl(), a.data(), 4);
    } else if (q.qtype == qtype::AAAA && t.v6) {
      auto a = t.v6->to_bytes();
      b.address(current, qtype::AAAA, policy.ttl(), a.data(), 16);
    }
    vendor_rule->count_hit();
    out.rewritten = true;
    out.records_dropped = static_cast<unsigned>(
        std::count_if(records.begin(), records.end(), [](const RecordView& r) { return r.type != qtype::OPT; }) -
        chain.size());
    flags = static_cast<uint16_t>(flags & ~(flag::aa | flag::ad | 0xF));
    out.rcode = 0;
  } else {
    for (const auto& r : records) {
      if (r.type == qtype::OPT) continue;
      if (policy.rules().find(r.owner)) {
        ++out.records_dropped;
        out.rewritten = true;
        continue;
      }
      if (!q.client_do && is_dnssec_type(r.type) && r.type != q.qtype) {
        ++out.records_dropped;
        continue;
      }
      if (!b.copy(r, r.section)) return false;
    }
  }
  if (!b.finish(flags)) return false;
  if (out.ttl_offsets.empty()) out.min_ttl = 0;
  mark_cacheable(out);
  return true;
}

}  // namespace outpost::dns
