#include <catch2/catch.hpp>

#include "daemon/ctl_render.h"

using nlohmann::json;

TEST_CASE("lists of records render as aligned tables", "[daemon][ctl]") {
  json rows = json::array({{{"name", "primary"}, {"state", "up"}}, {{"name", "backup"}, {"rtt_ms", 12.5}}});
  CHECK(outpost::ctl::render_table(rows) ==
        "NAME     STATE  RTT_MS\n"
        "primary  up     -\n"
        "backup   -      12.5\n");
}

TEST_CASE("objects render as key: value with sections", "[daemon][ctl]") {
  json data = {{"state", "running"}, {"ok", true}, {"list", {"a", "b"}}, {"sub", {{"k", 1}}}};
  CHECK(outpost::ctl::render_human(data) ==
        "list:  a, b\n"
        "ok:    yes\n"
        "state: running\n"
        "\nsub:\n"
        "  k: 1\n");
}
