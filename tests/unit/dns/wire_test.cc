#include <catch2/catch.hpp>

#include "dns/wire.h"
#include "tests/unit/dns/dns_test_util.h"

using namespace outpost::dns;
using namespace outpost::dns::test;

namespace {
ParsedQuery parse(const Bytes& b) {
  ParsedQuery q;
  parse_query(b, q);
  return q;
}
Bytes header(uint16_t flags, uint16_t qd, uint16_t an = 0, uint16_t ns = 0, uint16_t ar = 0) {
  Bytes b;
  put_u16(b, 0xBEEF), put_u16(b, flags), put_u16(b, qd), put_u16(b, an), put_u16(b, ns), put_u16(b, ar);
  return b;
}
}  // namespace

TEST_CASE("a plain query parses, the name lower-cased, the bytes untouched", "[dns][wire]") {
  auto b = query("SiP.Vendor.EXAMPLE", qtype::A);
  auto q = parse(b);
  CHECK(q.problem == QueryProblem::none);
  CHECK(q.header.id == 0x1234);
  CHECK(q.header.has(flag::rd));
  CHECK(q.qname.to_text() == "sip.vendor.example");
  CHECK(q.qname.label_count() == 3);
  CHECK(q.qtype == qtype::A);
  CHECK(q.qclass == qclass::IN);
  CHECK(q.question_end == b.size());
  CHECK(!q.edns.present);
  CHECK(b[13] == 'S');  // the packet keeps the client's case
}

TEST_CASE("EDNS OPT is read: size, DO, version; sizes under 512 count as 512", "[dns][wire]") {
  Packet p;
  p.question("a.example", qtype::AAAA).opt(4096, true, 0, {0, 10, 0, 2, 0xAB, 0xCD});
  auto q = parse(p.bytes);
  REQUIRE(q.problem == QueryProblem::none);
  CHECK(q.edns.present);
  CHECK(q.edns.udp_size == 4096);
  CHECK(q.edns.do_bit);
  CHECK(q.edns.version == 0);
  Packet small;
  small.question("a.example", qtype::A).opt(100, false, 1);
  auto s = parse(small.bytes);
  CHECK(s.edns.udp_size == 512);
  CHECK(s.edns.version == 1);
}

TEST_CASE("what parse_query reports about broken queries", "[dns][wire]") {
  SECTION("shorter than a header") { CHECK(parse(Bytes(11, 0)).problem == QueryProblem::too_short); }
  SECTION("a response") {
    auto b = query("a.example", qtype::A);
    b[2] |= 0x80;
    CHECK(parse(b).problem == QueryProblem::is_response);
  }
  SECTION("zero questions") { CHECK(parse(header(0x0100, 0)).problem == QueryProblem::no_question); }
  SECTION("two questions") {
    Packet p;
    p.question("a.example", qtype::A).question("b.example", qtype::A);
    CHECK(parse(p.bytes).problem == QueryProblem::several_questions);
  }
  SECTION("truncated label") {
    auto b = header(0x0100, 1);
    b.insert(b.end(), {5, 'a', 'b'});
    auto q = parse(b);
    CHECK(q.problem == QueryProblem::bad_question);
    CHECK(q.wire_error == WireError::truncated);
    CHECK(!q.has_question());
  }
  SECTION("name without its root label") {
    auto b = header(0x0100, 1);
    b.insert(b.end(), {1, 'a'});
    CHECK(parse(b).wire_error == WireError::truncated);
  }
  SECTION("question cut before the class") {
    auto b = query("a.example", qtype::A);
    b.pop_back();
    auto q = parse(b);
    CHECK(q.problem == QueryProblem::bad_question);
    CHECK(q.wire_error == WireError::truncated);
  }
  SECTION("label length 64 (the 0x40 extended label type)") {
    auto b = header(0x0100, 1);
    b.push_back(64);
    b.insert(b.end(), 64, 'x');
    b.insert(b.end(), {0, 0, 1, 0, 1});
    CHECK(parse(b).wire_error == WireError::label_too_long);
  }
  SECTION("name over 255 octets") {
    std::string name;
    for (int i = 0; i < 4; ++i) name += std::string(63, 'a' + i) + ".";
    name += "x";  // 4 x 64 + 2 + 1 = 259 octets
    auto b = query(name, qtype::A);
    CHECK(parse(b).wire_error == WireError::name_too_long);
    std::string ok;
    for (int i = 0; i < 3; ++i) ok += std::string(63, 'a') + ".";
    ok += std::string(61, 'b');  // 3 x 64 + 62 + 1 = 255: the longest legal name
    auto q = parse(query(ok, qtype::A));
    CHECK(q.problem == QueryProblem::none);
    CHECK(q.qname.length() == 255);
  }
  SECTION("compression pointer in the question") {
    auto b = header(0x0100, 1);
    b.insert(b.end(), {1, 'a', 0xC0, 12, 0, 1, 0, 1});
    CHECK(parse(b).wire_error == WireError::compressed_question);
  }
  SECTION("two OPT records") {
    Packet p;
    p.question("a.example", qtype::A).opt().opt();
    CHECK(parse(p.bytes).problem == QueryProblem::bad_edns);
  }
  SECTION("OPT with a non-root owner") {
    Packet p;
    p.question("a.example", qtype::A).rr(3, "x", qtype::OPT, 0, {});
    CHECK(parse(p.bytes).problem == QueryProblem::bad_edns);
  }
  SECTION("OPT options overrunning the record") {
    Packet p;
    p.question("a.example", qtype::A).opt(1232, false, 0, {0, 10, 0, 8, 1, 2});
    CHECK(parse(p.bytes).problem == QueryProblem::bad_edns);
  }
  SECTION("OPT in the answer section") {
    Packet p;
    p.question("a.example", qtype::A).rr(1, ".", qtype::OPT, 0, {});
    CHECK(parse(p.bytes).problem == QueryProblem::bad_edns);
  }
  SECTION("additional record cut short") {
    Packet p;
    p.question("a.example", qtype::A).opt();
    p.bytes.resize(p.bytes.size() - 3);
    CHECK(parse(p.bytes).problem == QueryProblem::bad_sections);
  }
  SECTION("record count larger than the records present") {
    auto b = query("a.example", qtype::A);
    b[11] = 3;
    CHECK(parse(b).problem == QueryProblem::bad_sections);
  }
}

TEST_CASE("read_name follows pointers backwards only, so loops cannot happen", "[dns][wire]") {
  WireName n;
  SECTION("a pointer to an earlier name") {
    Bytes m = header(0x8000, 0);
    auto first = wire_name("vendor.example");
    m.insert(m.end(), first.begin(), first.end());  // at 12
    size_t second = m.size();
    m.insert(m.end(), {3, 'S', 'I', 'P', 0xC0, 12});
    size_t pos = second;
    REQUIRE(read_name(m, pos, n) == WireError::none);
    CHECK(n.to_text() == "sip.vendor.example");
    CHECK(pos == m.size());
  }
  SECTION("a pointer to itself") {
    Bytes m = header(0x8000, 0);
    m.insert(m.end(), {0xC0, 12});
    size_t pos = 12;
    CHECK(read_name(m, pos, n) == WireError::bad_pointer);
  }
  SECTION("labels then a pointer back to the start of the same name") {
    Bytes m = header(0x8000, 0);
    m.insert(m.end(), {1, 'a', 1, 'b', 0xC0, 12});
    size_t pos = 12;
    CHECK(read_name(m, pos, n) == WireError::bad_pointer);
  }
  SECTION("a forward pointer") {
    Bytes m = header(0x8000, 0);
    m.insert(m.end(), {0xC0, 14, 1, 'a', 0});
    size_t pos = 12;
    CHECK(read_name(m, pos, n) == WireError::bad_pointer);
  }
  SECTION("two names pointing at each other") {
    Bytes m = header(0x8000, 0);
    m.insert(m.end(), {1, 'a', 0xC0, 16});  // 12: a -> 16 (forward)
    m.insert(m.end(), {1, 'b', 0xC0, 12});  // 16: b -> 12
    size_t pos = 16;
    CHECK(read_name(m, pos, n) == WireError::bad_pointer);  // 16 -> 12 -> 16 is refused at the second hop
    pos = 12;
    CHECK(read_name(m, pos, n) == WireError::bad_pointer);
  }
  SECTION("a pointer into the header") {
    Bytes m = header(0x8000, 0);  // ID 0: byte 0 reads as a root label
    m.insert(m.end(), {1, 'a', 0xC0, 0});
    size_t pos = 12;
    CHECK(read_name(m, pos, n) == WireError::bad_pointer);
  }
  SECTION("a pointer cut in half") {
    Bytes m = header(0x8000, 0);
    m.insert(m.end(), {1, 'a', 0xC0});
    size_t pos = 12;
    CHECK(read_name(m, pos, n) == WireError::truncated);
  }
  SECTION("a pointer past the end") {
    Bytes m = header(0x8000, 0);
    m.insert(m.end(), {1, 'a', 0});
    m.insert(m.end(), {0xC0, 0x3F});
    size_t pos = 15;
    CHECK(read_name(m, pos, n) == WireError::bad_pointer);
  }
  SECTION("a long chain of backward pointers expanding past 255 octets") {
    Bytes m = header(0x8000, 0);
    m.insert(m.end(), {63});
    m.insert(m.end(), 63, 'x');
    m.push_back(0);  // 12: one 63-octet label
    size_t prev = 12;
    for (int i = 0; i < 4; ++i) {
      size_t here = m.size();
      m.push_back(63);
      m.insert(m.end(), 63, 'y');
      m.push_back(0xC0), m.push_back(static_cast<uint8_t>(prev));
      prev = here;
    }
    size_t pos = prev;
    CHECK(read_name(m, pos, n) == WireError::name_too_long);
  }
}

TEST_CASE("WireName text conversions", "[dns][wire]") {
  auto n = WireName::from_text("Www.Example.COM.");
  REQUIRE(n);
  CHECK(n->to_text() == "www.example.com");
  CHECK(n->suffix(1) == WireName::from_text("example.com")->wire_view());
  CHECK(WireName::from_text(".")->to_text() == ".");
  CHECK(!WireName::from_text(""));
  CHECK(!WireName::from_text("a..b"));
  CHECK(!WireName::from_text(std::string(64, 'a') + ".example"));
  auto esc = WireName::from_text("a\\.b.ex\\065mple");
  REQUIRE(esc);
  CHECK(esc->label_count() == 2);
  CHECK(esc->to_text() == "a\\.b.example");
}

TEST_CASE("RecordReader walks a response section by section", "[dns][wire]") {
  Packet p(0, 0x8180);
  p.question("a.example", qtype::A)
      .rr(1, "@", qtype::CNAME, 60, wire_name("b.example"))
      .rr(1, "b.example", qtype::A, 30, v4(192, 0, 2, 1))
      .rr(2, "example", qtype::NS, 300, wire_name("ns.example"))
      .opt();
  RecordReader r;
  REQUIRE(r.open(p.bytes) == WireError::none);
  CHECK(r.qname().to_text() == "a.example");
  RecordView rr;
  std::vector<std::pair<uint16_t, Section>> seen;
  while (r.next(rr)) seen.emplace_back(rr.type, rr.section);
  CHECK(r.error() == WireError::none);
  REQUIRE(seen.size() == 4);
  CHECK(seen[0] == std::make_pair(qtype::CNAME, Section::answer));
  CHECK(seen[1] == std::make_pair(qtype::A, Section::answer));
  CHECK(seen[2] == std::make_pair(qtype::NS, Section::authority));
  CHECK(seen[3] == std::make_pair(qtype::OPT, Section::additional));
}

TEST_CASE("type and rcode names", "[dns][wire]") {
  CHECK(parse_type("https") == qtype::HTTPS);
  CHECK(parse_type("TYPE65") == 65);
  CHECK(!parse_type("TYPE70000"));
  CHECK(!parse_type("bogus"));
  CHECK(type_text(65) == "HTTPS");
  CHECK(type_text(1234) == "TYPE1234");
  CHECK(rcode_text(3) == "NXDOMAIN");
  CHECK(rcode_text(16) == "BADVERS");
}
