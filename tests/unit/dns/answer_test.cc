#include <catch2/catch.hpp>

#include "dns/answer.h"
#include "tests/unit/dns/dns_test_util.h"

using namespace outpost::dns;
using namespace outpost::dns::test;

namespace {

struct InPlace {
  Bytes buf;
  ParsedQuery q;
  explicit InPlace(const Bytes& query) : buf(query) {
    parse_query(buf, q);
    buf.resize(4096);
  }
  Bytes reply(size_t n) const { return Bytes(buf.begin(), buf.begin() + static_cast<long>(n)); }
};

RewriteTarget lan(bool with_v6 = false) {
  RewriteTarget t{boost::asio::ip::make_address_v4("10.20.0.1"), std::nullopt};
  if (with_v6) t.v6 = boost::asio::ip::make_address_v6("2001:db8:20::1");
  return t;
}

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

const Bytes kOpt = {0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0};

}  // namespace

TEST_CASE("rewrite A: ID, flags, question echoed with case, TTL, RDATA", "[dns][answer]") {
  auto query_bytes = query("SiP.Vendor.Example", qtype::A, /*edns=*/true, 0xABCD);
  InPlace p(query_bytes);
  size_t n = write_rewrite(p.buf.data(), p.buf.size(), p.q, lan(), 30);
  bool tc = true;
  n = finish_reply(p.buf.data(), n, p.buf.size(), p.q, reply_limit(p.q, false), &tc);
  CHECK(!tc);
  Bytes expected = concat({
      {0xAB, 0xCD, 0x85, 0x80, 0, 1, 0, 1, 0, 0, 0, 1},  // QR AA RD RA, NOERROR; 1 answer, 1 additional
      wire_name("SiP.Vendor.Example"), {0, 1, 0, 1},     // the question exactly as sent
      {0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 10, 20, 0, 1},
      kOpt,
  });
  CHECK(p.reply(n) == expected);
}

TEST_CASE("rewrite: AAAA, HTTPS, SVCB and other types", "[dns][answer]") {
  SECTION("AAAA without a LAN IPv6 address is NOERROR with no data") {
    InPlace p(query("a.vendor.example", qtype::AAAA));
    size_t n = finish_reply(p.buf.data(), write_rewrite(p.buf.data(), p.buf.size(), p.q, lan(), 30), p.buf.size(),
                            p.q, 512, nullptr);
    Header h = Header::read(p.buf.data());
    CHECK(h.rcode() == 0);
    CHECK(h.ancount == 0);
    CHECK(h.has(flag::aa));
    CHECK(n == p.q.question_end);
  }
  SECTION("AAAA with a LAN IPv6 address") {
    InPlace p(query("a.vendor.example", qtype::AAAA));
    size_t n = write_rewrite(p.buf.data(), p.buf.size(), p.q, lan(true), 30);
    CHECK(Header::read(p.buf.data()).ancount == 1);
    Bytes rr(p.buf.begin() + static_cast<long>(p.q.question_end), p.buf.begin() + static_cast<long>(n));
    Bytes expected = {0xC0, 0x0C, 0, 28, 0, 1, 0, 0, 0, 30, 0, 16, 0x20, 0x01, 0x0d, 0xb8, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    CHECK(rr == expected);
  }
  for (uint16_t t : {qtype::HTTPS, qtype::SVCB, qtype::MX, qtype::TXT, qtype::SRV}) {
    InPlace p(query("a.vendor.example", t));
    size_t n = write_rewrite(p.buf.data(), p.buf.size(), p.q, lan(true), 30);
    CHECK(Header::read(p.buf.data()).ancount == 0);
    CHECK(n == p.q.question_end);
  }
  SECTION("ANY gets the A and AAAA records (RFC 8482 subset)") {
    InPlace p(query("a.vendor.example", qtype::ANY));
    write_rewrite(p.buf.data(), p.buf.size(), p.q, lan(true), 30);
    CHECK(Header::read(p.buf.data()).ancount == 2);
  }
}

TEST_CASE("minimal ANY answer (RFC 8482)", "[dns][answer]") {
  InPlace p(query("Host.Corp.Example", qtype::ANY));
  size_t n = write_minimal_any(p.buf.data(), p.buf.size(), p.q, 30);
  Bytes rr(p.buf.begin() + static_cast<long>(p.q.question_end), p.buf.begin() + static_cast<long>(n));
  Bytes expected = {0xC0, 0x0C, 0, 13, 0, 1, 0, 0, 0, 30, 0, 9, 7, 'R', 'F', 'C', '8', '4', '8', '2', 0};
  CHECK(rr == expected);
  CHECK(Header::read(p.buf.data()).ancount == 1);
}

TEST_CASE("error replies keep the question when it parsed", "[dns][answer]") {
  SECTION("REFUSED to an outside client: no RA") {
    InPlace p(query("a.example", qtype::A, true));
    size_t n = write_error_reply(p.buf.data(), p.buf.size(), p.q, 5, false);
    n = finish_reply(p.buf.data(), n, p.buf.size(), p.q, 1232, nullptr, 5);
    Header h = Header::read(p.buf.data());
    CHECK(h.flags == (flag::qr | flag::rd | 5));
    CHECK(h.qdcount == 1);
    CHECK(h.arcount == 1);
    CHECK(n == p.q.question_end + kOptRecordSize);
  }
  SECTION("FORMERR for a broken question: header only") {
    Bytes b = header_only();
    b[5] = 1;  // qdcount 1, no question bytes
    InPlace p(b);
    size_t n = write_error_reply(p.buf.data(), p.buf.size(), p.q, 1, true);
    CHECK(n == kHeaderSize);
    Header h = Header::read(p.buf.data());
    CHECK(h.qdcount == 0);
    CHECK(h.rcode() == 1);
  }
  SECTION("NOTIMP keeps the opcode") {
    Packet notify(7, 0x2000);
    notify.question("a.example", qtype::SOA);
    InPlace p(notify.bytes);
    write_error_reply(p.buf.data(), p.buf.size(), p.q, 4, true);
    CHECK(Header::read(p.buf.data()).opcode() == 4);
  }
  SECTION("BADVERS: rcode 0 in the header, 1 in the OPT extended rcode") {
    Packet v1;
    v1.question("a.example", qtype::A).opt(1232, true, 1);
    InPlace p(v1.bytes);
    size_t n = write_error_reply(p.buf.data(), p.buf.size(), p.q, kRcodeBadvers, true);
    n = finish_reply(p.buf.data(), n, p.buf.size(), p.q, 1232, nullptr, kRcodeBadvers);
    CHECK(Header::read(p.buf.data()).rcode() == 0);
    const uint8_t* opt = p.buf.data() + n - kOptRecordSize;
    CHECK(opt[5] == 1);
    CHECK(get16(opt + 7) == 0x8000);  // DO echoed
  }
}

TEST_CASE("reply limits and truncation", "[dns][answer]") {
  ParsedQuery plain, edns, huge;
  parse_query(query("a.example", qtype::A), plain);
  Packet e;
  e.question("a.example", qtype::A).opt(1400);
  parse_query(e.bytes, edns);
  Packet h;
  h.question("a.example", qtype::A).opt(4096);
  parse_query(h.bytes, huge);
  CHECK(reply_limit(plain, false) == 512);
  CHECK(reply_limit(edns, false) == 1232);
  CHECK(reply_limit(huge, true) == 65535);

  // A reply of 600 octets to a client without EDNS: TC, records gone, question kept.
  InPlace p(query("Big.Corp.Example", qtype::TXT));
  Header hdr{0x1234, flag::qr | flag::rd | flag::ra, 1, 5, 0, 0};
  hdr.write(p.buf.data());
  bool tc = false;
  size_t n = finish_reply(p.buf.data(), 600, p.buf.size(), p.q, 512, &tc);
  CHECK(tc);
  CHECK(n == p.q.question_end);
  Header out = Header::read(p.buf.data());
  CHECK(out.has(flag::tc));
  CHECK(out.ancount == 0);
  CHECK(out.qdcount == 1);
  CHECK(p.buf[13] == 'B');
}

TEST_CASE("serve_prepared: client's ID, flags and case; TTLs counted down", "[dns][answer]") {
  // A prepared answer as the cache holds it: lower-case question, ID 0, AD set upstream.
  Packet prep(0, flag::qr | flag::ra | flag::ad);
  prep.question("host1.corp.example", qtype::A).rr(1, "@", qtype::A, 300, v4(10, 1, 0, 1));
  PreparedAnswer a;
  a.packet = prep.bytes;
  a.question_end = kHeaderSize + wire_name("host1.corp.example").size() + 4;
  a.ttl_offsets = {static_cast<uint16_t>(a.question_end + 6)};
  a.min_ttl = 300;

  Packet client(0x7777, flag::rd | flag::cd);
  client.question("HOST1.corp.EXAMPLE", qtype::A);
  InPlace p(client.bytes);
  bool tc = true;
  size_t n = serve_prepared(p.buf.data(), p.buf.size(), a, p.q, nullptr, 42, 512, &tc);
  REQUIRE(n == a.packet.size());
  CHECK(!tc);
  Header h = Header::read(p.buf.data());
  CHECK(h.id == 0x7777);
  CHECK(h.flags == (flag::qr | flag::rd | flag::ra | flag::cd));  // AD dropped: the client asked neither AD nor DO
  CHECK(Bytes(p.buf.begin() + 12, p.buf.begin() + 12 + 20) == Bytes(client.bytes.begin() + 12, client.bytes.begin() + 32));
  CHECK(get32(p.buf.data() + a.question_end + 6) == 258);
  // Served from elsewhere (a late answer): the question comes from the caller.
  Bytes scratch(4096);
  n = serve_prepared(scratch.data(), scratch.size(), a, p.q, client.bytes.data() + 12, 400, 512, nullptr);
  CHECK(scratch[13] == 'H');
  CHECK(get32(scratch.data() + a.question_end + 6) == 0);
  // A question of another length is not this answer's.
  ParsedQuery other;
  parse_query(query("host12.corp.example", qtype::A), other);
  CHECK(serve_prepared(scratch.data(), scratch.size(), a, other, nullptr, 0, 512, nullptr) == 0);
}
