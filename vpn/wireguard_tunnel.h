#pragma once
// act (tunnel): the encrypted backup uplink. Runs Debian's wireguard-go as a child process
// (this kernel has no WireGuard module), configures it over its UAPI socket, and gives the
// TUN device its inner address, MTU and IFF_UP through NetlinkRouting. Kernel WireGuard
// takes the same DeviceConfig over generic netlink: only this file would change.
#include <sys/types.h>

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "common/net.h"
#include "common/result.h"
#include "vpn/wireguard_uapi.h"

namespace outpost::vpn {

class NetlinkRouting;

struct TunnelSettings {
  std::string ifname;
  InterfaceAddress address;
  unsigned mtu = 1420;
  wg::DeviceConfig device;
  std::string binary = "/usr/bin/wireguard-go";
  bool operator==(const TunnelSettings& o) const;
};

class WireGuardTunnel {
 public:
  WireGuardTunnel(Logger log, NetlinkRouting& netlink) : log_(std::move(log)), netlink_(netlink) {}
  ~WireGuardTunnel() { stop(); }
  WireGuardTunnel(const WireGuardTunnel&) = delete;
  WireGuardTunnel& operator=(const WireGuardTunnel&) = delete;

  // Starts the engine (if not running), applies the settings, brings the device up.
  Result<void> start(const TunnelSettings& settings);
  // SIGTERM, then SIGKILL after 1 s; wireguard-go removes its TUN device and socket.
  void stop();
  // False once the child has exited (reaped here).
  bool running();
  Result<wg::DeviceStatus> query() const;
  nlohmann::json status() const;
  const TunnelSettings& settings() const { return settings_; }
  uint64_t restarts() const { return restarts_; }

 private:
  std::string socket_path() const { return "/var/run/wireguard/" + settings_.ifname + ".sock"; }
  Result<std::string> exchange(const std::string& request) const;

  Logger log_;
  NetlinkRouting& netlink_;
  TunnelSettings settings_;
  pid_t pid_ = -1;
  uint64_t restarts_ = 0;
  std::string last_error_;
};

}  // namespace outpost::vpn
