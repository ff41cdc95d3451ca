#include <catch2/catch.hpp>

#include "daemon/config_loader.h"
#include "vpn/routing_plan.h"

using namespace outpost;
using namespace outpost::vpn;

namespace {

config::Config load(const std::string& extra) {
  std::string text =
      "lan:\n  interface: lan0\n  address: 10.20.0.1/24\n"
      "vendor:\n  profile: lab\n"
      "uplinks:\n  primary:\n    interface: wanp0\n    address: 198.51.100.1/30\n    gateway: 198.51.100.2\n" +
      extra;
  auto r = config::load_config_text(text, "t.yaml", config::LoadOptions{OUTPOST_SOURCE_DIR "/daemon/profiles"});
  INFO(r.errors.to_string());
  REQUIRE(r.config);
  return *r.config;
}

}  // namespace

TEST_CASE("the plan routes vendor prefixes via the active path with standby routes", "[vpn][plan]") {
  auto plan = RoutingPlan::from_config(load("  probe:\n    targets: [203.0.113.7, 192.0.2.77:7]\n"));
  CHECK(plan.table == 4242);
  CHECK(plan.priority == 4242);
  REQUIRE(plan.destinations.size() == 2);
  CHECK(plan.destinations[0].to_string() == "203.0.113.0/24");
  CHECK(plan.destinations[1].to_string() == "192.0.2.77/32");  // a probe target outside the prefixes
  auto s = plan.state(Path::primary);
  REQUIRE(s.routes.size() == 4);  // active + primary standby, per destination (no backup)
  CHECK(s.routes[0].to_string() == "203.0.113.0/24 via 198.51.100.2 dev wanp0 metric 0");
  CHECK(s.routes[2].to_string() == "203.0.113.0/24 via 198.51.100.2 dev wanp0 metric 100");
  CHECK(s.rule_destinations == plan.destinations);
  // Without a backup, "backup" still means the primary.
  CHECK(plan.active_routes(Path::backup).at(0).ifname == "wanp0");
}

TEST_CASE("VLAN and VXLAN primaries route through the device outpost creates", "[vpn][plan]") {
  auto c = load("");
  c.uplinks.primary.vlan = 120;
  CHECK(RoutingPlan::from_config(c).primary_if == "wanp0.120");
  c.uplinks.primary.vxlan = config::Vxlan{100, *parse_address("198.51.100.2"), 4789, "opvx100"};
  CHECK(RoutingPlan::from_config(c).primary_if == "opvx100");
}

TEST_CASE("outpost owns a device only for a VLAN or VXLAN primary, MTU on the outermost", "[vpn][plan]") {
  CHECK(primary_devices(load("")).empty());  // a plain interface is not outpost's to change
  auto vlan = load("    vlan: 120\n    mtu: 1400\n");
  auto d = primary_devices(vlan);
  REQUIRE(d.size() == 1);
  CHECK(d[0].kind == DeviceSpec::Kind::vlan);
  CHECK(d[0].name == "wanp0.120");
  CHECK(d[0].parent == "wanp0");
  CHECK(d[0].vlan_id == 120);
  CHECK(d[0].mtu == 1400);
  CHECK(d[0].name == RoutingPlan::from_config(vlan).primary_if);

  auto both = load("    vlan: 120\n    mtu: 1400\n    vxlan:\n      vni: 5000\n      remote: 198.51.100.2\n");
  d = primary_devices(both);
  REQUIRE(d.size() == 2);
  CHECK(d[0].name == "wanp0.120");
  CHECK(d[0].mtu == 0);  // the VLAN under the VXLAN keeps its parent's MTU
  CHECK(d[1].kind == DeviceSpec::Kind::vxlan);
  CHECK(d[1].name == "opvx5000");
  CHECK(d[1].parent == "wanp0.120");  // VXLAN over the VLAN
  CHECK(d[1].vni == 5000);
  CHECK(d[1].remote->to_string() == "198.51.100.2");
  CHECK(d[1].port == 4789);
  CHECK(d[1].mtu == 1400);
  CHECK(d[1].to_string() == "opvx5000 (VXLAN 5000 to 198.51.100.2:4789 over wanp0.120)");
  CHECK(d[1].name == RoutingPlan::from_config(both).primary_if);
}
