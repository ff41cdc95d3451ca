#include "dns/wire.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace outpost::dns {
namespace {

struct TypeName {
  uint16_t type;
  std::string_view name;
};
constexpr TypeName kTypeNames[] = {
    {qtype::A, "A"},         {qtype::NS, "NS"},         {qtype::CNAME, "CNAME"},   {qtype::SOA, "SOA"},
    {qtype::PTR, "PTR"},     {qtype::HINFO, "HINFO"},   {qtype::MX, "MX"},         {qtype::TXT, "TXT"},
    {qtype::AAAA, "AAAA"},   {qtype::SRV, "SRV"},       {qtype::NAPTR, "NAPTR"},   {qtype::DNAME, "DNAME"},
    {qtype::OPT, "OPT"},     {qtype::DS, "DS"},         {qtype::RRSIG, "RRSIG"},   {qtype::NSEC, "NSEC"},
    {qtype::DNSKEY, "DNSKEY"}, {qtype::NSEC3, "NSEC3"}, {qtype::SVCB, "SVCB"},     {qtype::HTTPS, "HTTPS"},
    {qtype::IXFR, "IXFR"},   {qtype::AXFR, "AXFR"},     {qtype::MAILB, "MAILB"},   {qtype::MAILA, "MAILA"},
    {qtype::ANY, "ANY"},     {257, "CAA"},
};

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x >= 'A' && x <= 'Z' ? x + 32 : x) == (y >= 'A' && y <= 'Z' ? y + 32 : y);
         });
}

uint8_t lower(uint8_t c) { return c >= 'A' && c <= 'Z' ? static_cast<uint8_t>(c + 32) : c; }

// Skips a record's fixed part and data; fills rr when given.
WireError read_record(std::span<const uint8_t> msg, size_t& pos, RecordView& rr) {
  rr.offset = pos;
  if (auto e = read_name(msg, pos, rr.owner); e != WireError::none) return e;
  if (msg.size() - pos < 10) return WireError::truncated;
  const uint8_t* p = msg.data() + pos;
  rr.type = get16(p);
  rr.klass = get16(p + 2);
  rr.ttl_offset = pos + 4;
  rr.ttl = get32(p + 4);
  rr.rdlength = get16(p + 8);
  rr.rdata_offset = pos + 10;
  if (msg.size() - rr.rdata_offset < rr.rdlength) return WireError::truncated;
  rr.end = rr.rdata_offset + rr.rdlength;
  pos = rr.end;
  return WireError::none;
}

}  // namespace

std::string_view type_name(uint16_t type) {
  for (const auto& t : kTypeNames)
    if (t.type == type) return t.name;
  return {};
}

std::string type_text(uint16_t type) {
  auto n = type_name(type);
  return n.empty() ? "TYPE" + std::to_string(type) : std::string(n);
}

std::optional<uint16_t> parse_type(std::string_view text) {
  for (const auto& t : kTypeNames)
    if (iequals(t.name, text)) return t.type;
  if (text.size() > 4 && iequals(text.substr(0, 4), "TYPE")) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(text.data() + 4, text.data() + text.size(), v);
    if (ec == std::errc() && p == text.data() + text.size() && v <= 0xFFFF) return static_cast<uint16_t>(v);
  }
  return std::nullopt;
}

std::string rcode_text(unsigned rcode) {
  static constexpr std::string_view names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"};
  if (rcode < std::size(names)) return std::string(names[rcode]);
  if (rcode == kRcodeBadvers) return "BADVERS";
  return "RCODE" + std::to_string(rcode);
}

const char* to_string(WireError e) {
  switch (e) {
    case WireError::none: return "ok";
    case WireError::truncated: return "truncated";
    case WireError::label_too_long: return "label longer than 63 octets";
    case WireError::name_too_long: return "name longer than 255 octets";
    case WireError::bad_pointer: return "compression pointer not pointing backwards";
    case WireError::too_many_pointers: return "too many compression pointers";
    case WireError::compressed_question: return "compressed question name";
    case WireError::bad_record: return "bad record";
    case WireError::bad_opt: return "bad EDNS OPT record";
  }
  return "?";
}

const char* to_string(QueryProblem p) {
  switch (p) {
    case QueryProblem::none: return "ok";
    case QueryProblem::too_short: return "shorter than a header";
    case QueryProblem::is_response: return "QR set (a response)";
    case QueryProblem::no_question: return "no question";
    case QueryProblem::several_questions: return "more than one question";
    case QueryProblem::bad_question: return "malformed question";
    case QueryProblem::bad_sections: return "malformed records";
    case QueryProblem::bad_edns: return "malformed EDNS";
  }
  return "?";
}

bool WireName::append_label(const uint8_t* label, size_t len) {
  // Room for the length octet, the label and the final root octet.
  if (len == 0 || len > kMaxLabelLength || length_ + 1 + len + 1 > kMaxNameLength) return false;
  labels_[count_++] = length_;
  bytes_[length_++] = static_cast<uint8_t>(len);
  for (size_t i = 0; i < len; ++i) bytes_[length_++] = lower(label[i]);
  return true;
}

bool WireName::finish() {
  if (length_ + 1u > kMaxNameLength) return false;
  bytes_[length_++] = 0;
  return true;
}

std::string WireName::to_text() const {
  if (count_ == 0) return ".";
  std::string out;
  out.reserve(length_);
  size_t pos = 0;
  while (pos < length_ && bytes_[pos] != 0) {
    size_t len = bytes_[pos++];
    if (!out.empty()) out += '.';
    for (size_t i = 0; i < len; ++i, ++pos) {
      uint8_t c = bytes_[pos];
      if (c == '.' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c > 0x20 && c < 0x7F) {
        out += static_cast<char>(c);
      } else {
        char buf[5] = {'\\', static_cast<char>('0' + c / 100), static_cast<char>('0' + c / 10 % 10),
                       static_cast<char>('0' + c % 10), 0};
        out += buf;
      }
    }
  }
  return out;
}

std::optional<WireName> WireName::from_text(std::string_view text) {
  WireName n;
  if (text == ".") return n.finish() ? std::optional(n) : std::nullopt;
  if (!text.empty() && text.back() == '.' && (text.size() < 2 || text[text.size() - 2] != '\\')) text.remove_suffix(1);
  if (text.empty()) return std::nullopt;
  uint8_t label[kMaxLabelLength + 1];
  size_t len = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == '.') {
      if (!n.append_label(label, len)) return std::nullopt;
      len = 0;
      continue;
    }
    uint8_t c = static_cast<uint8_t>(text[i]);
    if (c == '\\') {
      if (i + 1 >= text.size()) return std::nullopt;
      if (i + 3 < text.size() && std::isdigit(static_cast<unsigned char>(text[i + 1])) &&
          std::isdigit(static_cast<unsigned char>(text[i + 2])) &&
          std::isdigit(static_cast<unsigned char>(text[i + 3]))) {
        unsigned v = (text[i + 1] - '0') * 100u + (text[i + 2] - '0') * 10u + (text[i + 3] - '0');
        if (v > 255) return std::nullopt;
        c = static_cast<uint8_t>(v);
        i += 3;
      } else {
        c = static_cast<uint8_t>(text[++i]);
      }
    }
    if (len >= kMaxLabelLength) return std::nullopt;
    label[len++] = c;
  }
  if (!n.finish()) return std::nullopt;
  return n;
}

WireError read_name(std::span<const uint8_t> msg, size_t& offset, WireName& out, bool allow_compression) {
  out.clear();
  size_t pos = offset;
  size_t limit = offset;  // a pointer must point below the start of every part read so far
  size_t resume = 0;      // where the caller continues after the first pointer
  unsigned hops = 0;
  for (;;) {
    if (pos >= msg.size()) return WireError::truncated;
    uint8_t len = msg[pos];
    if ((len & 0xC0) == 0xC0) {
      if (!allow_compression) return WireError::compressed_question;
      if (pos + 1 >= msg.size()) return WireError::truncated;
      size_t target = static_cast<size_t>(len & 0x3F) << 8 | msg[pos + 1];
      // Names live after the header; a pointer into it would read the ID and flags, which
      // change when the message is relayed.
      if (target < kHeaderSize || target >= limit) return WireError::bad_pointer;
      if (++hops > 127) return WireError::too_many_pointers;
      if (hops == 1) resume = pos + 2;
      limit = pos = target;
      continue;
    }
    if (len & 0xC0) return WireError::label_too_long;
    if (len == 0) {
      if (!out.finish()) return WireError::name_too_long;
      offset = hops ? resume : pos + 1;
      return WireError::none;
    }
    if (msg.size() - pos - 1 < len) return WireError::truncated;
    if (!out.append_label(msg.data() + pos + 1, len)) return WireError::name_too_long;
    pos += 1 + len;
  }
}

void parse_query(std::span<const uint8_t> packet, ParsedQuery& q) {
  q.problem = QueryProblem::none;
  q.wire_error = WireError::none;
  q.question_end = kHeaderSize;
  q.qtype = q.qclass = 0;
  q.qname.clear();
  q.edns = EdnsInfo{};
  if (packet.size() < kHeaderSize) {
    q.header = Header{};
    q.problem = QueryProblem::too_short;
    return;
  }
  q.header = Header::read(packet.data());
  if (q.header.has(flag::qr)) {
    q.problem = QueryProblem::is_response;
    return;
  }
  if (q.header.qdcount == 0) {
    q.problem = QueryProblem::no_question;
    return;
  }
  if (q.header.qdcount > 1) {
    q.problem = QueryProblem::several_questions;
    return;
  }
  size_t pos = kHeaderSize;
  if (auto e = read_name(packet, pos, q.qname, false); e != WireError::none) {
    q.problem = QueryProblem::bad_question;
    q.wire_error = e;
    return;
  }
  if (packet.size() - pos < 4) {
    q.problem = QueryProblem::bad_question;
    q.wire_error = WireError::truncated;
    return;
  }
  q.qtype = get16(packet.data() + pos);
  q.qclass = get16(packet.data() + pos + 2);
  q.question_end = pos + 4;
  pos = q.question_end;
  // Queries rarely carry records besides OPT, but when they do they must parse.
  RecordView rr;
  unsigned others = static_cast<unsigned>(q.header.ancount) + q.header.nscount;
  for (unsigned i = 0; i < others + q.header.arcount; ++i) {
    if (auto e = read_record(packet, pos, rr); e != WireError::none) {
      q.problem = QueryProblem::bad_sections;
      q.wire_error = e;
      return;
    }
    if (rr.type != qtype::OPT) continue;
    bool bad = i < others || q.edns.present || rr.owner.length() != 1;
    // Options are (code, length, data) triples that must fill the rdata exactly.
    size_t o = rr.rdata_offset;
    while (!bad && o < rr.end) {
      if (rr.end - o < 4) bad = true;
      else if (size_t olen = get16(packet.data() + o + 2); rr.end - o - 4 < olen) bad = true;
      else o += 4 + olen;
    }
    if (bad) {
      q.problem = QueryProblem::bad_edns;
      q.wire_error = WireError::bad_opt;
      q.edns = EdnsInfo{};
      return;
    }
    q.edns.present = true;
    q.edns.udp_size = std::max<uint16_t>(rr.klass, kPlainUdpLimit);
    q.edns.version = static_cast<uint8_t>(rr.ttl >> 16);
    q.edns.do_bit = (rr.ttl & 0x8000) != 0;
  }
}

WireError RecordReader::open(std::span<const uint8_t> msg) {
  msg_ = msg;
  index_ = 0;
  error_ = WireError::none;
  qname_.clear();
  qtype_ = qclass_ = 0;
  if (msg.size() < kHeaderSize) return error_ = WireError::truncated;
  header_ = Header::read(msg.data());
  pos_ = question_end_ = kHeaderSize;
  if (header_.qdcount > 1) return error_ = WireError::bad_record;
  if (header_.qdcount == 1) {
    if (auto e = read_name(msg, pos_, qname_); e != WireError::none) return error_ = e;
    if (msg.size() - pos_ < 4) return error_ = WireError::truncated;
    qtype_ = get16(msg.data() + pos_);
    qclass_ = get16(msg.data() + pos_ + 2);
    pos_ += 4;
    question_end_ = pos_;
  }
  return WireError::none;
}

bool RecordReader::next(RecordView& rr) {
  unsigned total = static_cast<unsigned>(header_.ancount) + header_.nscount + header_.arcount;
  if (error_ != WireError::none || index_ >= total) return false;
  if (auto e = read_record(msg_, pos_, rr); e != WireError::none) {
    error_ = e;
    return false;
  }
  rr.section = index_ < header_.ancount                     ? Section::answer
               : index_ < header_.ancount + header_.nscount ? Section::authority
                                                            : Section::additional;
  ++index_;
  return true;
}

}  // namespace outpost::dns
