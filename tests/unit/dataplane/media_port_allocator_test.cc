// Port pairs from a media range: even RTP ports with RTCP on the next, no immediate reuse,
// freeing, exhaustion.
#include <catch2/catch.hpp>
#include <set>

#include "dataplane/media_port_allocator.h"

using outpost::PortRange;
using outpost::media::PortAllocator;

TEST_CASE("media port allocator: even RTP ports with room for RTCP, all inside the range") {
  PortAllocator ports(PortRange{10001, 10010});  // odd first port: pairs 10002..10009
  CHECK(ports.pairs_total() == 4);
  std::set<uint16_t> seen;
  for (int i = 0; i < 4; ++i) {
    auto p = ports.allocate();
    REQUIRE(p);
    CHECK(*p % 2 == 0);
    CHECK(*p >= 10002);
    CHECK(*p + 1 <= 10010);
    seen.insert(*p);
  }
  CHECK(seen.size() == 4);
  CHECK(ports.pairs_free() == 0);
  CHECK_FALSE(ports.allocate());  // exhausted
}

TEST_CASE("media port allocator: a freed pair comes back, but not at once") {
  PortAllocator ports(PortRange{20000, 20007});  // 4 pairs
  auto a = ports.allocate();
  auto b = ports.allocate();
  REQUIRE(a);
  REQUIRE(b);
  CHECK(*a == 20000);
  CHECK(*b == 20002);
  ports.release(*a);
  CHECK(ports.pairs_in_use() == 1);
  CHECK(*ports.allocate() == 20004);  // round robin: the freed pair waits its turn
  CHECK(*ports.allocate() == 20006);
  CHECK(*ports.allocate() == 20000);
  CHECK_FALSE(ports.allocate());
  ports.release(*b);
  CHECK(*ports.allocate() == 20002);
}

TEST_CASE("media port allocator: releasing what was not handed out changes nothing") {
  PortAllocator ports(PortRange{30000, 30003});
  ports.release(30000);  // not in use
  ports.release(30001);  // odd: an RTCP port
  ports.release(40000);  // outside
  CHECK(ports.pairs_in_use() == 0);
  auto p = ports.allocate();
  REQUIRE(p);
  ports.release(*p);
  ports.release(*p);  // twice
  CHECK(ports.pairs_in_use() == 0);
  CHECK(ports.pairs_free() == 2);
}

TEST_CASE("media port allocator: a range too small for a pair has none") {
  CHECK(PortAllocator(PortRange{5001, 5001}).pairs_total() == 0);
  CHECK(PortAllocator(PortRange{5001, 5002}).pairs_total() == 0);  // 5002 would need 5003
  CHECK(PortAllocator(PortRange{5000, 5001}).pairs_total() == 1);
  CHECK_FALSE(PortAllocator(PortRange{5001, 5001}).allocate());
}
