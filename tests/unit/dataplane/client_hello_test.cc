#include <catch2/catch.hpp>

#include "dataplane/client_hello.h"
#include "tests/unit/dataplane/hello_builder.h"

using namespace outpost::dataplane;
using namespace outpost::dataplane::test;

namespace {

ClientHello parse(const Bytes& b) { return parse_client_hello(std::span<const uint8_t>(b.data(), b.size())); }

}  // namespace

TEST_CASE("a ClientHello from OpenSSL 3 gives its SNI", "[dataplane][hello]") {
  Bytes b = read_file(std::string(OUTPOST_SOURCE_DIR) + "/tests/unit/dataplane/data/openssl3_hello_www.vendor.example.bin");
  REQUIRE(b.size() == 517);
  auto h = parse(b);
  REQUIRE(h.status == HelloStatus::ok);
  CHECK(h.sni == "www.vendor.example");
  // Every proper prefix is a valid beginning: read more.
  for (size_t n = 0; n < b.size(); ++n) {
    INFO("prefix of " << n << " bytes");
    REQUIRE(parse(Bytes(b.begin(), b.begin() + long(n))).status == HelloStatus::need_more);
  }
}

TEST_CASE("the hello may be split across TLS records of any size", "[dataplane][hello]") {
  for (size_t size : {1u, 2u, 3u, 4u, 5u, 7u, 100u, 16384u}) {
    INFO("record size " << size);
    Bytes b = client_hello("app.vendor.example", size);
    auto h = parse(b);
    REQUIRE(h.status == HelloStatus::ok);
    CHECK(h.sni == "app.vendor.example");
    CHECK(parse(Bytes(b.begin(), b.end() - 1)).status == HelloStatus::need_more);
  }
}

TEST_CASE("bytes after the hello (early data, a second record) do not matter", "[dataplane][hello]") {
  Bytes b = client_hello("www.vendor.example");
  Bytes more = records({1, 2, 3}, 16384, 23);
  b.insert(b.end(), more.begin(), more.end());
  auto h = parse(b);
  REQUIRE(h.status == HelloStatus::ok);
  CHECK(h.sni == "www.vendor.example");
}

TEST_CASE("a hello without SNI is ok with no name", "[dataplane][hello]") {
  SECTION("other extensions only") {
    auto h = parse(records(handshake(hello_body({extension(10, {0, 2, 0, 29})}))));
    REQUIRE(h.status == HelloStatus::ok);
    CHECK_FALSE(h.sni);
  }
  SECTION("no extensions block at all") {
    auto h = parse(records(handshake(hello_body({}, false))));
    REQUIRE(h.status == HelloStatus::ok);
    CHECK_FALSE(h.sni);
  }
}

TEST_CASE("the first host_name wins; other name types are skipped", "[dataplane][hello]") {
  Bytes entry1{7, 0, 3, 'x', 'y', 'z'};  // unknown name type first
  Bytes entry2{0, 0, 5, 'a', '.', 'b', 'c', 'd'};
  Bytes list;
  put16(list, entry1.size() + entry2.size());
  list.insert(list.end(), entry1.begin(), entry1.end());
  list.insert(list.end(), entry2.begin(), entry2.end());
  auto h = parse(records(handshake(hello_body({extension(0, list)}))));
  REQUIRE(h.status == HelloStatus::ok);
  CHECK(h.sni == "a.bcd");
}

TEST_CASE("non-TLS first bytes are told apart at once", "[dataplane][hello]") {
  CHECK(parse(Bytes{'G'}).status == HelloStatus::not_tls);
  CHECK(parse(Bytes{'G', 'E', 'T', ' ', '/'}).status == HelloStatus::not_tls);
  CHECK(parse(Bytes{0x00, 0x01, 0x00, 0x08}).status == HelloStatus::not_tls);  // STUN/TURN binding request
  CHECK(parse(Bytes{0x80, 0x2e, 0x01}).status == HelloStatus::not_tls);        // SSLv2-style hello
  CHECK(parse(Bytes{22, 9}).status == HelloStatus::not_tls);
  CHECK(parse(Bytes{22, 3, 7}).status == HelloStatus::not_tls);
  CHECK(parse(Bytes{22}).status == HelloStatus::need_more);
  CHECK(parse(Bytes{}).status == HelloStatus::need_more);
}

TEST_CASE("broken hellos are malformed, never a crash", "[dataplane][hello]") {
  Bytes good = client_hello("www.vendor.example");
  SECTION("a record of length zero") { CHECK(parse(Bytes{22, 3, 1, 0, 0}).status == HelloStatus::malformed); }
  SECTION("a record longer than TLS allows") {
    CHECK(parse(Bytes{22, 3, 1, 0x48, 0x01}).status == HelloStatus::malformed);
  }
  SECTION("not a ClientHello handshake message") {
    CHECK(parse(records(handshake(hello_body({}), 2))).status == HelloStatus::malformed);
  }
  SECTION("an alert record in the middle") {
    Bytes msg = handshake(hello_body({sni_extension("www.vendor.example")}));
    Bytes b = records(Bytes(msg.begin(), msg.begin() + 10));
    Bytes alert = records({2, 40}, 16384, 21);
    b.insert(b.end(), alert.begin(), alert.end());
    CHECK(parse(b).status == HelloStatus::malformed);
  }
  SECTION("extensions length disagrees with the message") {
    Bytes body = hello_body({sni_extension("www.vendor.example")});
    body.push_back(0);
    CHECK(parse(records(handshake(body))).status == HelloStatus::malformed);
  }
  SECTION("an extension running past the end") {
    Bytes body = hello_body({extension(10, {0, 2, 0, 29})});
    body[body.size() - 5] = 0x50;  // the extension's own length
    CHECK(parse(records(handshake(body))).status == HelloStatus::malformed);
  }
  SECTION("an empty server name") { CHECK(parse(records(handshake(hello_body({sni_extension("")})))).status == HelloStatus::malformed); }
  SECTION("two server_name extensions") {
    auto h = parse(records(handshake(hello_body({sni_extension("a.example"), sni_extension("b.example")}))));
    CHECK(h.status == HelloStatus::malformed);
  }
  SECTION("server_name list length wrong") {
    CHECK(parse(records(handshake(hello_body({extension(0, {0, 9, 0, 0, 1, 'a'})})))).status ==
          HelloStatus::malformed);
  }
  SECTION("session id longer than 32") {
    Bytes body = hello_body({});
    body[34] = 33;
    CHECK(parse(records(handshake(body))).status == HelloStatus::malformed);
  }
  SECTION("a body shorter than the random") {
    CHECK(parse(records(handshake({3, 3, 1, 2, 3}))).status == HelloStatus::malformed);
  }
  SECTION("every single-byte corruption of a good hello gives some answer") {
    for (size_t i = 0; i < good.size(); ++i)
      for (uint8_t v : {uint8_t(0), uint8_t(0xff), uint8_t(good[i] + 1)}) {
        Bytes b = good;
        b[i] = v;
        auto h = parse(b);  // must not crash or read out of bounds (ASan build)
        CHECK((h.status == HelloStatus::ok || h.status == HelloStatus::malformed ||
               h.status == HelloStatus::need_more || h.status == HelloStatus::not_tls ||
               h.status == HelloStatus::too_large));
      }
  }
}

TEST_CASE("oversized hellos are refused without waiting for them", "[dataplane][hello]") {
  SECTION("a handshake length over 16 KB") {
    Bytes b{22, 3, 1, 0, 4, 1, 0x01, 0x00, 0x00};  // ClientHello of 65536 bytes announced
    CHECK(parse(b).status == HelloStatus::too_large);
  }
  SECTION("a hello of exactly 16 KB is fine") {
    Bytes body = hello_body({sni_extension("www.vendor.example")});
    size_t pad = kMaxClientHello - body.size() - 4;
    body = hello_body({sni_extension("www.vendor.example"), extension(21, Bytes(pad, 0))});
    REQUIRE(body.size() == kMaxClientHello);
    auto h = parse(records(handshake(body), 4000));
    REQUIRE(h.status == HelloStatus::ok);
    CHECK(h.sni == "www.vendor.example");
  }
  SECTION("a buffer full of tiny records that never completes the hello") {
    Bytes msg = handshake(hello_body({sni_extension("www.vendor.example"), extension(21, Bytes(12000, 0))}));
    Bytes b = records(msg, 1);  // 6 bytes per message byte
    b.resize(kMaxHelloBuffer);
    CHECK(parse(b).status == HelloStatus::too_large);
  }
}
