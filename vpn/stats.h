#pragma once
// count: the uplink component's counters, one X-macro list for /metrics and `show uplinks`.
#include "common/metrics.h"

namespace outpost::vpn {

// clang-format off
#define OUTPOST_UPLINK_STATS(X)                                                                      \
  X(switches, "Active-path changes (failover, failback and forced)")                               \
  X(failovers, "Switches from the primary to the backup")                                          \
  X(failbacks, "Switches from the backup to the primary")                                          \
  X(link_events, "RTNLGRP_LINK events about an uplink interface")                                  \
  X(reconciles, "Comparisons of outpost's routes and rules with the kernel's")                     \
  X(repairs, "Routes and rules put back or removed because something else changed them")           \
  X(netlink_errors, "Netlink requests that failed")                                                \
  X(netlink_resyncs, "Netlink event buffer overruns (everything re-read)")                         \
  X(tunnel_starts, "Starts of the WireGuard engine (wireguard-go)")                                \
  X(tunnel_failures, "Failed starts or configurations of the WireGuard engine")                   \
  X(devices_created, "VLAN/VXLAN devices of the primary created (at start or after a deletion)")
// clang-format on
OUTPOST_DEFINE_STATS(UplinkStats, "outpost_uplink_", OUTPOST_UPLINK_STATS);

}  // namespace outpost::vpn
