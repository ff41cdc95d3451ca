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

TEST_CASE("messages in a list get a line each", "[daemon][ctl]") {
  json data = {{"ok", false},
               {"errors", {"/etc/outpost/outpost.yaml:3:5: unknown key 'clients'",
                           "/etc/outpost/outpost.yaml:9:14: gateway 198.51.100.9 is not in 198.51.100.0/30, the uplink's subnet"}}};
  CHECK(outpost::ctl::render_human(data) ==
        "ok: no\n"
        "\nerrors:\n"
        "  - /etc/outpost/outpost.yaml:3:5: unknown key 'clients'\n"
        "  - /etc/outpost/outpost.yaml:9:14: gateway 198.51.100.9 is not in 198.51.100.0/30, the uplink's subnet\n");
}

TEST_CASE("nested records in a table row follow the table, under the row's first column", "[daemon][ctl]") {
  auto rows = nlohmann::json::parse(R"([
    {"dialog": "d1", "state": "confirmed", "media": [{"index": 0, "to_lan": {"packets": 50}}]},
    {"dialog": "d2", "state": "early", "media": []}])");
  CHECK(outpost::ctl::render_table(rows) ==
        "DIALOG  STATE\n"
        "d1      confirmed\n"
        "d2      early\n"
        "\n"
        "dialog d1, media:\n"
        "  INDEX\n"
        "  0\n"
        "\n"
        "  index 0, to_lan:\n"
        "    packets: 50\n");
}
