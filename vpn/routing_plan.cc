#include "vpn/routing_plan.h"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace outpost::vpn {

RoutingPlan RoutingPlan::from_config(const config::Config& c) {
  RoutingPlan p;
  const auto& u = c.uplinks;
  p.table = u.table;
  p.priority = u.rule_priority;
  if (u.primary.configured) {
    p.has_primary = true;
    p.primary_if = u.primary.vxlan  ? u.primary.vxlan->interface
                   : u.primary.vlan ? u.primary.interface + "." + std::to_string(*u.primary.vlan)
                                    : u.primary.interface;
    p.primary_gateway = u.primary.gateway;
    p.primary_source = u.primary.address.address;
  }
  if (u.backup.configured) {
    p.has_backup = true;
    p.backup_if = u.backup.interface;
    p.backup_source = u.backup.address.address;
  }
  for (const auto& pr : c.vendor.prefixes)
    if (pr.address.is_v4() && std::find(p.destinations.begin(), p.destinations.end(), pr) == p.destinations.end())
      p.destinations.push_back(pr);
  for (const auto& t : u.probe.targets) {
    if (!t.address.is_v4()) continue;
    bool covered = std::any_of(p.destinations.begin(), p.destinations.end(),
                               [&](const Prefix& d) { return d.contains(t.address); });
    if (!covered) p.destinations.push_back(Prefix{t.address, 32});
  }
  return p;
}

RouteSpec RoutingPlan::route(const Prefix& dst, Path via, uint32_t metric) const {
  if (via == Path::primary) return RouteSpec{dst, metric, primary_if, primary_gateway};
  return RouteSpec{dst, metric, backup_if, std::nullopt};
}

std::vector<RouteSpec> RoutingPlan::active_routes(Path active) const {
  std::vector<RouteSpec> out;
  if (active == Path::backup && !has_backup) active = Path::primary;
  if (active == Path::primary && !has_primary) active = Path::backup;
  if (active == Path::backup && !has_backup) return out;
  for (const auto& d : destinations) out.push_back(route(d, active, kActiveMetric));
  return out;
}

RoutingState RoutingPlan::state(Path active) const {
  RoutingState s;
  s.routes = active_routes(active);
  for (const auto& d : destinations) {
    if (has_primary) s.routes.push_back(route(d, Path::primary, kPrimaryMetric));
    if (has_backup) s.routes.push_back(route(d, Path::backup, kBackupMetric));
  }
  if (has_primary || has_backup) s.rule_destinations = destinations;
  return s;
}

std::vector<DeviceSpec> primary_devices(const config::Config& c) {
  const auto& p = c.uplinks.primary;
  std::vector<DeviceSpec> out;
  if (!p.configured) return out;
  std::string underlay = p.interface;
  if (p.vlan) {
    DeviceSpec v;
    v.kind = DeviceSpec::Kind::vlan;
    v.name = p.interface + "." + std::to_string(*p.vlan);
    v.parent = p.interface;
    v.vlan_id = *p.vlan;
    out.push_back(v);
    underlay = v.name;
  }
  if (p.vxlan) {
    DeviceSpec x;
    x.kind = DeviceSpec::Kind::vxlan;
    x.name = p.vxlan->interface;
    x.parent = underlay;
    x.vni = p.vxlan->vni;
    x.remote = p.vxlan->remote;
    x.port = p.vxlan->port;
    out.push_back(x);
  }
  if (!out.empty()) out.back().mtu = p.mtu;
  return out;
}

Result<TunnelSettings> tunnel_settings(const config::Config& c, const RoutingPlan& plan) {
  const auto& b = c.uplinks.backup;
  std::ifstream in(b.private_key_file);
  if (!in) return make_error("cannot read " + b.private_key_file);
  std::stringstream text;
  text << in.rdbuf();
  auto priv = wg::key_to_hex(text.str());
  if (!priv) return make_error(b.private_key_file + ": " + priv.error().message);
  auto pub = wg::key_to_hex(b.peer.public_key);
  if (!pub) return make_error("uplinks.backup.peer.public_key: " + pub.error().message);
  TunnelSettings s;
  s.ifname = b.interface;
  s.address = b.address;
  s.mtu = b.mtu;
  s.device.private_key_hex = *priv;
  s.device.listen_port = b.listen_port;
  s.device.peer.public_key_hex = *pub;
  s.device.peer.endpoint = b.peer.endpoint;
  s.device.peer.keepalive_s = b.peer.keepalive_s;
  // The tunnel must accept what is routed into it: the configured allowed IPs and every
  // destination outpost routes (vendor prefixes, probe targets).
  s.device.peer.allowed_ips = b.peer.allowed_ips;
  for (const auto& d : plan.destinations)
    if (std::find(s.device.peer.allowed_ips.begin(), s.device.peer.allowed_ips.end(), d) ==
        s.device.peer.allowed_ips.end())
      s.device.peer.allowed_ips.push_back(d);
  return s;
}

}  // namespace outpost::vpn
