#pragma once
// act (kernel state): outpost's routes, policy rules, tunnel address and link settings,
// through libnl-route-3. NetlinkRouting owns one routing table and one rule priority and
// brings them to the wanted state (reconcile), replaces one route atomically on failover,
// and on stop removes what is in them and nothing else. NetlinkEvents listens to
// RTNLGRP_LINK / IPV4_ROUTE / IPV4_RULE on the daemon's event loop.
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/net.h"
#include "common/result.h"

struct nl_sock;
struct nl_msg;
struct nl_object;
struct rtnl_addr;

namespace outpost::vpn {

// The routing protocol number outpost's routes carry (`ip route show proto 242`).
constexpr uint8_t kRouteProtocol = 242;

struct RouteSpec {
  Prefix dst;
  uint32_t metric = 0;
  std::string ifname;
  std::optional<IpAddress> gateway;  // none: on-link (a point-to-point tunnel)
  bool operator==(const RouteSpec&) const = default;
  std::string to_string() const;
};

struct RoutingState {
  std::vector<RouteSpec> routes;       // in the owned table
  std::vector<Prefix> rule_destinations;  // one rule "to P lookup table" each, at the owned priority
};

struct ReconcileReport {
  unsigned routes_added = 0, routes_removed = 0, rules_added = 0, rules_removed = 0;
  unsigned pending = 0;  // wanted routes whose interface is missing or down (retried later)
  std::vector<std::string> errors;
  bool changed() const { return routes_added + routes_removed + rules_added + rules_removed > 0; }
};

// A device outpost creates and owns for the primary: an 802.1Q VLAN on the interface, or a
// VXLAN toward the vendor POP's VTEP over it.
struct DeviceSpec {
  enum class Kind { vlan, vxlan };
  Kind kind = Kind::vlan;
  std::string name;
  std::string parent;  // VLAN: the tagged interface; VXLAN: the underlay
  uint16_t vlan_id = 0;
  uint32_t vni = 0;
  std::optional<IpAddress> remote;  // VXLAN: the remote VTEP
  uint16_t port = 4789;             // VXLAN: UDP destination port
  unsigned mtu = 0;                 // 0: the kernel's default
  bool operator==(const DeviceSpec&) const = default;
  std::string to_string() const;
};

// The RTM_NEWLINK request (NLM_F_CREATE | NLM_F_EXCL) that ensure_device() sends to create
// `device` on the parent with ifindex `parent_ifindex`, with `mtu` (0: none), as bytes: the
// VLAN/VXLAN attributes are checked by unit tests where the kernel cannot create them.
Result<std::vector<uint8_t>> device_add_request(const DeviceSpec& device, int parent_ifindex, unsigned mtu);

struct LinkState {
  std::string name;
  int ifindex = 0;
  bool admin_up = false;
  bool carrier = false;  // IFF_LOWER_UP
  unsigned mtu = 0;
  bool usable() const { return admin_up && carrier; }
};

class NetlinkRouting {
 public:
  static Result<std::unique_ptr<NetlinkRouting>> open(uint32_t table, uint32_t priority);
  ~NetlinkRouting();
  NetlinkRouting(const NetlinkRouting&) = delete;
  NetlinkRouting& operator=(const NetlinkRouting&) = delete;

  ReconcileReport reconcile(const RoutingState& want);
  // The failover primitive: one RTM_NEWROUTE with NLM_F_REPLACE (atomic in the kernel).
  Result<void> replace(const RouteSpec& route);
  // Deletes every route in the owned table and every rule at the owned priority that
  // points to it. Foreign objects are left alone.
  ReconcileReport remove_all();

  std::optional<LinkState> link(const std::string& name);
  Result<void> ensure_address(const std::string& ifname, const InterfaceAddress& address);
  // Adds the address unless the interface has it already: true if outpost added it (and so
  // owns it and removes it later).
  Result<bool> add_address_if_missing(const std::string& ifname, const InterfaceAddress& address);
  Result<void> remove_address(const std::string& ifname, const InterfaceAddress& address);
  Result<void> set_link(const std::string& ifname, bool up, unsigned mtu);
  // Creates the device (up, with its MTU) unless a device of that name and kind, with the
  // same VLAN id / VNI, exists already (then only its MTU and IFF_UP are set): true if
  // created now. A device of that name that is something else is an error, left alone.
  Result<bool> ensure_device(const DeviceSpec& device);
  Result<void> delete_device(const std::string& name);

  // What is in the table and at the priority now, for `show uplinks`.
  nlohmann::json dump();
  uint32_t table() const { return table_; }
  uint32_t priority() const { return priority_; }

 private:
  NetlinkRouting(nl_sock* sk, uint32_t table, uint32_t priority) : sk_(sk), table_(table), priority_(priority) {}
  int ifindex(const std::string& name);
  Result<std::unique_ptr<rtnl_addr, void (*)(rtnl_addr*)>> address_object(const std::string& ifname,
                                                                          const InterfaceAddress& address);
  Result<void> add_route(const RouteSpec& r, int flags);

  nl_sock* sk_;
  uint32_t table_;
  uint32_t priority_;
};

class NetlinkEvents {
 public:
  using LinkHandler = std::function<void(const LinkState&, bool removed)>;
  using ChangeHandler = std::function<void()>;  // a route in the table or a rule at the priority changed
  using ResyncHandler = std::function<void()>;  // events were lost (buffer overrun): re-read everything

  static Result<std::unique_ptr<NetlinkEvents>> open(boost::asio::io_context& io, uint32_t table,
                                                     uint32_t priority, LinkHandler on_link,
                                                     ChangeHandler on_change, ResyncHandler on_resync);
  ~NetlinkEvents();
  uint64_t events() const { return events_; }

 private:
  NetlinkEvents(boost::asio::io_context& io, nl_sock* sk, uint32_t table, uint32_t priority)
      : sk_(sk), stream_(io), table_(table), priority_(priority) {}
  void wait();
  static int on_message(nl_msg* msg, void* self);
  static void on_object(nl_object* obj, void* self);

  nl_sock* sk_;
  boost::asio::posix::stream_descriptor stream_;
  uint32_t table_, priority_;
  LinkHandler on_link_;
  ChangeHandler on_change_;
  ResyncHandler on_resync_;
  int msg_type_ = 0;
  uint64_t events_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace outpost::vpn
