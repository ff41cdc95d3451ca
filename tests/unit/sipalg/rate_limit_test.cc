// The per-source token bucket on the LAN side.
#include <catch2/catch.hpp>

#include "sipalg/rate_limit.h"

using namespace outpost;
using namespace outpost::sip;
using namespace std::chrono_literals;

TEST_CASE("a source gets its burst, then per_second; others are not affected", "[sip]") {
  SourceRateLimit l;
  auto a = *parse_address("10.20.0.10"), b = *parse_address("10.20.0.11");
  auto t = SourceRateLimit::Clock::now();
  CHECK(l.admit(a, t));  // off by default
  l.configure(10, 20);
  int admitted = 0;
  for (int i = 0; i < 100; ++i) admitted += l.admit(a, t);
  CHECK(admitted == 20);
  CHECK(l.admit(b, t));
  CHECK(!l.admit(a, t + 50ms));
  CHECK(l.admit(a, t + 100ms));  // one token back after 1/10 s
  admitted = 0;
  for (int i = 0; i < 100; ++i) admitted += l.admit(a, t + 10s);
  CHECK(admitted == 20);  // refilled to the burst, not beyond
  CHECK(l.tracked() == 2);
}
