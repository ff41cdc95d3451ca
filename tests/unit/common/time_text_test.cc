// ISO 8601 UTC text for call records, `status` and reload reports.
#include <catch2/catch.hpp>

#include "common/time_text.h"

TEST_CASE("iso_utc: UTC seconds, Z suffix, nothing for a time that never happened", "[common]") {
  CHECK(outpost::iso_utc(1795476778) == "2026-11-23T23:32:58Z");
  CHECK(outpost::iso_utc(951782400) == "2000-02-29T00:00:00Z");  // leap day, zero-padded fields
  CHECK(outpost::iso_utc(0).empty());
  CHECK(outpost::iso_utc(-5).empty());
  std::string line = "start,";
  outpost::append_iso_utc(line, 1);
  CHECK(line == "start,1970-01-01T00:00:01Z");
}
