#include <catch2/catch.hpp>

#include "dns/answer_cache.h"
#include "dns/rate_limiter.h"
#include "tests/unit/dns/dns_test_util.h"

using namespace outpost;
using namespace outpost::dns;
using namespace outpost::dns::test;

namespace {
PreparedAnswer answer(uint32_t ttl, size_t size = 100) {
  PreparedAnswer a;
  a.packet.assign(size, 0);
  a.ttl_offsets = {20};
  a.min_ttl = ttl;
  a.cacheable = true;
  return a;
}
WireName name(std::string_view t) { return *WireName::from_text(t); }
}  // namespace

TEST_CASE("answer cache: keyed by name, type, class and DO; entries expire with their TTL", "[dns][cache]") {
  AnswerCache cache;
  cache.insert(name("Host1.corp.example"), qtype::A, qclass::IN, false, answer(60), 1000);
  auto hit = cache.find(name("host1.CORP.example"), qtype::A, qclass::IN, false, 1010);
  REQUIRE(hit);
  CHECK(hit->age_s == 10);
  CHECK(!cache.find(name("host1.corp.example"), qtype::AAAA, qclass::IN, false, 1010));
  CHECK(!cache.find(name("host1.corp.example"), qtype::A, qclass::IN, true, 1010));
  CHECK(!cache.find(name("host1.corp.example"), qtype::A, qclass::IN, false, 1060));  // expired
  CHECK(cache.entries() == 0);
  PreparedAnswer nope = answer(60);
  nope.cacheable = false;
  cache.insert(name("a.example"), qtype::A, qclass::IN, false, std::move(nope), 1000);
  CHECK(cache.entries() == 0);
}

TEST_CASE("answer cache: least recently used entries go first", "[dns][cache]") {
  AnswerCache cache(2);
  cache.insert(name("a.example"), qtype::A, qclass::IN, false, answer(60), 0);
  cache.insert(name("b.example"), qtype::A, qclass::IN, false, answer(60), 0);
  CHECK(cache.find(name("a.example"), qtype::A, qclass::IN, false, 1));  // a is now the most recent
  cache.insert(name("c.example"), qtype::A, qclass::IN, false, answer(60), 1);
  CHECK(cache.entries() == 2);
  CHECK(cache.find(name("a.example"), qtype::A, qclass::IN, false, 1));
  CHECK(!cache.find(name("b.example"), qtype::A, qclass::IN, false, 1));
  cache.clear();
  CHECK(cache.entries() == 0);
  CHECK(cache.bytes() == 0);
}

TEST_CASE("answer cache: byte limit", "[dns][cache]") {
  AnswerCache cache(100, 1000);
  for (int i = 0; i < 10; ++i)
    cache.insert(name("n" + std::to_string(i) + ".example"), qtype::A, qclass::IN, false, answer(60, 300), 0);
  CHECK(cache.bytes() <= 1000);
  CHECK(cache.entries() == 2);
}

TEST_CASE("rate limiter: a token bucket per client", "[dns][ratelimit]") {
  RateLimiter rl(10, 20);
  auto a = *parse_address("10.20.0.10");
  auto b = *parse_address("10.20.0.11");
  int admitted = 0;
  for (int i = 0; i < 100; ++i) admitted += rl.admit(a, 1000);
  CHECK(admitted == 20);  // the burst
  CHECK(rl.admit(b, 1000));  // another client has its own bucket
  CHECK(!rl.would_admit(a, 1000));
  CHECK(rl.would_admit(a, 1100));  // 100 ms at 10/s = one token
  CHECK(rl.admit(a, 1100));
  CHECK(!rl.admit(a, 1100));
  admitted = 0;
  for (int i = 0; i < 100; ++i) admitted += rl.admit(a, 5000);
  CHECK(admitted == 20);  // refilled, capped at the burst
  CHECK(rl.tracked() == 2);
}

TEST_CASE("rate limiter: unlimited, IPv6, and a flood of sources stays in its table", "[dns][ratelimit]") {
  RateLimiter off(0, 0);
  for (int i = 0; i < 1000; ++i) CHECK(off.admit(*parse_address("10.0.0.1"), 0));
  RateLimiter rl(1, 1, 16);
  CHECK(rl.admit(*parse_address("2001:db8::1"), 0));
  CHECK(!rl.admit(*parse_address("2001:db8::1"), 0));
  CHECK(rl.admit(*parse_address("2001:db8::2"), 0));
  for (uint32_t i = 0; i < 5000; ++i) rl.admit(boost::asio::ip::address_v4(0x0A000000u + i), 10);
  CHECK(rl.tracked() <= 16 * 4);
}
