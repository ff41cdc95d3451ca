#pragma once
// The DNS wire format, read and written with bounds checks and no heap allocation.
// Parsing here only states facts about a packet (what it holds, what is wrong with it);
// what to do about them is policy.h's business.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace outpost::dns {

namespace qtype {
constexpr uint16_t A = 1, NS = 2, MD = 3, MF = 4, CNAME = 5, SOA = 6, MB = 7, MG = 8, MR = 9, PTR = 12, HINFO = 13,
                   MINFO = 14, MX = 15, TXT = 16, AAAA = 28, SRV = 33, NAPTR = 35, DNAME = 39, OPT = 41, DS = 43,
                   RRSIG = 46, NSEC = 47, DNSKEY = 48, NSEC3 = 50, SVCB = 64, HTTPS = 65, IXFR = 251, AXFR = 252,
                   MAILB = 253, MAILA = 254, ANY = 255;
}
namespace qclass {
constexpr uint16_t IN = 1, CH = 3, HS = 4, NONE = 254, ANY = 255;
}
namespace flag {
constexpr uint16_t qr = 0x8000, aa = 0x0400, tc = 0x0200, rd = 0x0100, ra = 0x0080, ad = 0x0020, cd = 0x0010;
}

enum class Rcode : uint8_t { noerror = 0, formerr = 1, servfail = 2, nxdomain = 3, notimp = 4, refused = 5 };
constexpr unsigned kRcodeBadvers = 16;  // extended rcode, carried half in the OPT record

std::string_view type_name(uint16_t type);         // "A", "HTTPS", "TYPE1234"-style via type_text
std::string type_text(uint16_t type);              // name or "TYPEnnn"
std::optional<uint16_t> parse_type(std::string_view text);  // "a", "AAAA", "TYPE65"
std::string rcode_text(unsigned rcode);            // "NOERROR", ..., "RCODE9"

constexpr size_t kHeaderSize = 12;
constexpr size_t kMaxNameLength = 255;  // wire octets, including the root label
constexpr size_t kMaxLabelLength = 63;
constexpr uint16_t kPlainUdpLimit = 512;
constexpr uint16_t kOurUdpSize = 1232;  // what we advertise and the most we send over UDP

inline uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t get32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 | static_cast<uint32_t>(p[2]) << 8 | p[3];
}
inline void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void put32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

struct Header {
  uint16_t id = 0, flags = 0, qdcount = 0, ancount = 0, nscount = 0, arcount = 0;
  unsigned opcode() const { return (flags >> 11) & 0xF; }
  unsigned rcode() const { return flags & 0xF; }
  bool has(uint16_t f) const { return (flags & f) != 0; }
  static Header read(const uint8_t* p) {
    return {get16(p), get16(p + 2), get16(p + 4), get16(p + 6), get16(p + 8), get16(p + 10)};
  }
  void write(uint8_t* p) const {
    put16(p, id), put16(p + 2, flags), put16(p + 4, qdcount), put16(p + 6, ancount), put16(p + 8, nscount),
        put16(p + 10, arcount);
  }
};

// A domain name in uncompressed wire form, lower-cased (ASCII), with the offsets of its
// labels, in fixed storage. Comparisons are therefore case-insensitive byte compares.
class WireName {
 public:
  std::span<const uint8_t> wire() const { return {bytes_.data(), length_}; }
  std::string_view wire_view() const { return {reinterpret_cast<const char*>(bytes_.data()), length_}; }
  size_t length() const { return length_; }  // 1 for the root
  unsigned label_count() const { return count_; }  // not counting the root label
  // The name from label i on ("b.example" is suffix(1) of "a.b.example"); i <= label_count().
  std::string_view suffix(unsigned i) const {
    size_t off = i < count_ ? labels_[i] : length_ - 1u;
    return wire_view().substr(off);
  }
  bool operator==(const WireName& o) const { return wire_view() == o.wire_view(); }
  // Presentation form: lower case, no trailing dot ("." for the root), unusual bytes as \DDD.
  std::string to_text() const;
  // From "Host.Example" or "host.example."; nullopt if not a valid name.
  static std::optional<WireName> from_text(std::string_view text);

  void clear() { length_ = 0, count_ = 0; }
  // Appends one label (lower-cased); false if the name would exceed 255 octets.
  bool append_label(const uint8_t* label, size_t len);
  // Terminates the name with the root label.
  bool finish();

 private:
  std::array<uint8_t, kMaxNameLength> bytes_{};
  std::array<uint8_t, 128> labels_{};
  uint8_t length_ = 0;
  uint8_t count_ = 0;
};

enum class WireError : uint8_t {
  none,
  truncated,       // the packet ends inside the item
  label_too_long,  // a label of 64-191 octets (the 0x40/0x80 label types)
  name_too_long,   // more than 255 octets once uncompressed
  bad_pointer,     // a compression pointer into the header, or not strictly backwards
  too_many_pointers,
  compressed_question,  // a pointer where the question name must be literal
  bad_record,           // a record's length fields disagree with the packet
  bad_opt,              // a malformed EDNS OPT record, or more than one
};
const char* to_string(WireError e);

// Reads a possibly compressed name starting at `offset`; on success `offset` moves past the
// name as it appears there. Every pointer must point before the start of the part of the name
// read so far, which rules out loops and forward references.
WireError read_name(std::span<const uint8_t> msg, size_t& offset, WireName& out, bool allow_compression = true);

struct EdnsInfo {
  bool present = false;
  uint16_t udp_size = kPlainUdpLimit;
  uint8_t version = 0;
  bool do_bit = false;
};

enum class QueryProblem : uint8_t {
  none,
  too_short,          // under 12 octets: nothing to answer to
  is_response,        // QR set: never answer a response (reflection loops)
  no_question,        // QDCOUNT 0
  several_questions,  // QDCOUNT > 1
  bad_question,       // the question does not parse (see wire_error)
  bad_sections,       // answer/authority/additional records do not parse
  bad_edns,           // malformed OPT, or more than one
};
const char* to_string(QueryProblem p);

// What a query says, with the question name lower-cased. The question's own bytes
// (with the client's letter case) stay in the packet at [12, question_end).
struct ParsedQuery {
  Header header;
  WireName qname;
  uint16_t qtype = 0;
  uint16_t qclass = 0;
  size_t question_end = kHeaderSize;
  EdnsInfo edns;
  QueryProblem problem = QueryProblem::none;
  WireError wire_error = WireError::none;
  bool has_question() const { return question_end > kHeaderSize; }
};
void parse_query(std::span<const uint8_t> packet, ParsedQuery& out);

enum class Section : uint8_t { answer, authority, additional };

struct RecordView {
  WireName owner;
  uint16_t type = 0, klass = 0;
  uint32_t ttl = 0;
  size_t offset = 0;       // where the owner name starts
  size_t ttl_offset = 0;
  size_t rdata_offset = 0;
  uint16_t rdlength = 0;
  size_t end = 0;          // just past the rdata
  Section section = Section::answer;
};

// Walks the records of a whole message (an upstream answer).
class RecordReader {
 public:
  // Reads the header and the question (QDCOUNT must be 0 or 1).
  WireError open(std::span<const uint8_t> msg);
  const Header& header() const { return header_; }
  bool has_question() const { return header_.qdcount == 1; }
  const WireName& qname() const { return qname_; }
  uint16_t qtype() const { return qtype_; }
  uint16_t qclass() const { return qclass_; }
  size_t question_end() const { return question_end_; }
  // The next record; false at the end or on an error (error() tells which).
  bool next(RecordView& rr);
  WireError error() const { return error_; }
  // Where the records read so far end: trailing bytes after the last record are not part
  // of the message and must not be copied into a reply.
  size_t position() const { return pos_; }

 private:
  std::span<const uint8_t> msg_;
  Header header_;
  WireName qname_;
  uint16_t qtype_ = 0, qclass_ = 0;
  size_t question_end_ = kHeaderSize;
  size_t pos_ = kHeaderSize;
  unsigned index_ = 0;
  WireError error_ = WireError::none;
};

// Appends to a caller-owned buffer; after an overflow every write is ignored and
// overflowed() is true, so callers check once at the end.
class WireWriter {
 public:
  WireWriter(uint8_t* buf, size_t capacity, size_t start = 0) : buf_(buf), cap_(capacity), len_(start) {}
  void u8(uint8_t v) {
    if (room(1)) buf_[len_++] = v;
  }
  void u16(uint16_t v) {
    if (room(2)) put16(buf_ + len_, v), len_ += 2;
  }
  void u32(uint32_t v) {
    if (room(4)) put32(buf_ + len_, v), len_ += 4;
  }
  void bytes(const void* p, size_t n) {
    if (room(n)) std::memcpy(buf_ + len_, p, n), len_ += n;
  }
  void name(const WireName& n) { bytes(n.wire().data(), n.length()); }
  void pointer(uint16_t offset) { u16(static_cast<uint16_t>(0xC000 | offset)); }
  void patch16(size_t at, uint16_t v) {
    if (at + 2 <= len_) put16(buf_ + at, v);
  }
  size_t size() const { return len_; }
  bool overflowed() const { return overflow_; }

 private:
  bool room(size_t n) {
    if (overflow_ || n > cap_ - len_) return overflow_ = true, false;
    return true;
  }
  uint8_t* buf_;
  size_t cap_;
  size_t len_;
  bool overflow_ = false;
};

}  // namespace outpost::dns
