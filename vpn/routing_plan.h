#pragma once
// decide (what the kernel should hold): from the uplinks config and the active path, the
// routes of outpost's table and the rules at its priority. Pure.
//
// For every destination (vendor prefix, plus probe targets no prefix covers) the table has:
//   metric 0    via the active path        <- what traffic uses; the failover replaces it
//   metric 100  via the primary (standby)  <- what probes bound to the primary's interface
//   metric 200  via the backup  (standby)     use when it is not active (the kernel skips
//                                             nexthops whose device is not the socket's), and
//                                             the fall-back when the kernel flushes the
//                                             active route (interface set down)
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "daemon/config_model.h"
#include "vpn/failover_policy.h"
#include "vpn/netlink_routing.h"
#include "vpn/wireguard_tunnel.h"

namespace outpost::vpn {

constexpr uint32_t kActiveMetric = 0;
constexpr uint32_t kPrimaryMetric = 100;
constexpr uint32_t kBackupMetric = 200;

struct RoutingPlan {
  bool has_primary = false;
  std::string primary_if;  // the interface traffic leaves by (VLAN/VXLAN device if any)
  IpAddress primary_gateway;
  IpAddress primary_source;
  bool has_backup = false;
  std::string backup_if;
  IpAddress backup_source;  // inner address
  std::vector<Prefix> destinations;
  uint32_t table = 0;
  uint32_t priority = 0;

  static RoutingPlan from_config(const config::Config& c);
  RouteSpec route(const Prefix& dst, Path via, uint32_t metric) const;
  // The active routes only (the failover's replace set).
  std::vector<RouteSpec> active_routes(Path active) const;
  RoutingState state(Path active) const;
  bool operator==(const RoutingPlan&) const = default;
};

// The devices outpost creates and owns for the primary, in creation order: the VLAN
// (IF.VLAN) if `vlan` is set, then the VXLAN over it (or over IF) if `vxlan` is set. The
// configured MTU goes to the device the vendor's traffic leaves by (the last one); a VLAN
// under a VXLAN keeps its parent's. Empty for a plain interface (not outpost's to change).
std::vector<DeviceSpec> primary_devices(const config::Config& c);

// The tunnel's settings: the private key file is read here (base64, as `wg genkey` writes).
Result<TunnelSettings> tunnel_settings(const config::Config& c, const RoutingPlan& plan);

}  // namespace outpost::vpn
