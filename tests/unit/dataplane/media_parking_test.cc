// Parking: the media relay's store of finished streams' sockets (here plain numbers).
#include <catch2/catch.hpp>

#include "dataplane/media_parking.h"

using outpost::media::Parking;
using outpost::media::ParkingLimits;

namespace {
constexpr int64_t kSecond = 1'000'000'000;
}

TEST_CASE("parking: items come back oldest first, only after the quarantine") {
  Parking<int> p(ParkingLimits{4, 2 * kSecond, 60 * kSecond});
  CHECK_FALSE(p.park(1, 0));
  CHECK_FALSE(p.park(2, 1 * kSecond));
  CHECK(p.size() == 2);
  CHECK_FALSE(p.take(2 * kSecond - 1));  // 1 rested 2 s less 1 ns
  CHECK(p.take(2 * kSecond) == 1);
  CHECK_FALSE(p.take(2 * kSecond));  // 2 rested only 1 s
  CHECK(p.take(3 * kSecond) == 2);
  CHECK_FALSE(p.take(100 * kSecond));  // empty
  CHECK(p.size() == 0);
}

TEST_CASE("parking: take_any ignores the quarantine") {
  Parking<int> p(ParkingLimits{4, 2 * kSecond, 60 * kSecond});
  p.park(7, 10 * kSecond);
  p.park(8, 10 * kSecond);
  CHECK(p.take_any() == 7);
  CHECK(p.take_any() == 8);
  CHECK_FALSE(p.take_any());
}

TEST_CASE("parking: over max_parked the oldest is handed back; 0 parks nothing") {
  Parking<int> p(ParkingLimits{2, 0, 60 * kSecond});
  CHECK_FALSE(p.park(1, 0));
  CHECK_FALSE(p.park(2, 0));
  CHECK(p.park(3, 0) == 1);
  CHECK(p.size() == 2);
  p.set_max_parked(1);
  CHECK(p.over_limit() == 2);
  CHECK_FALSE(p.over_limit());
  CHECK(p.take(0) == 3);

  Parking<int> none(ParkingLimits{0, 0, 60 * kSecond});
  CHECK(none.park(5, 0) == 5);
  CHECK(none.size() == 0);
}

TEST_CASE("parking: items parked longer than max_age expire, oldest first; clear empties") {
  Parking<int> p(ParkingLimits{8, 2 * kSecond, 60 * kSecond});
  p.park(1, 0);
  p.park(2, 30 * kSecond);
  p.park(3, 59 * kSecond);
  CHECK_FALSE(p.expire(60 * kSecond));  // exactly max_age: not yet
  CHECK(p.expire(60 * kSecond + 1) == 1);
  CHECK_FALSE(p.expire(60 * kSecond + 1));
  CHECK(p.expire(91 * kSecond) == 2);
  CHECK(p.clear() == std::vector<int>{3});
  CHECK(p.size() == 0);
}
