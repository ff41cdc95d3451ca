#include "vpn/netlink_routing.h"

#include <linux/fib_rules.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <netlink/cache.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/vlan.h>
#include <netlink/route/link/vxlan.h>
#include <netlink/route/route.h>
#include <netlink/route/rule.h>

#include <algorithm>
#include <map>

namespace outpost::vpn {
namespace {

struct CacheFree {
  void operator()(nl_cache* c) const { nl_cache_free(c); }
};
using CachePtr = std::unique_ptr<nl_cache, CacheFree>;
struct AddrPut {
  void operator()(nl_addr* a) const { nl_addr_put(a); }
};
using AddrPtr = std::unique_ptr<nl_addr, AddrPut>;

Error nl_error(const std::string& what, int code) { return make_error(what + ": " + nl_geterror(code)); }

AddrPtr to_nl(const IpAddress& a, int prefixlen) {
  nl_addr* out = nullptr;
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    out = nl_addr_build(AF_INET, b.data(), b.size());
  } else {
    auto b = a.to_v6().to_bytes();
    out = nl_addr_build(AF_INET6, b.data(), b.size());
  }
  if (out) nl_addr_set_prefixlen(out, prefixlen);
  return AddrPtr(out);
}

struct LinkPut {
  void operator()(rtnl_link* l) const { rtnl_link_put(l); }
};
using LinkPtr = std::unique_ptr<rtnl_link, LinkPut>;

// The libnl object of a device to create: kind, id, VXLAN remote and port, parent, MTU, up.
LinkPtr device_link(const DeviceSpec& d, int parent_ifindex, unsigned mtu) {
  LinkPtr l;
  if (d.kind == DeviceSpec::Kind::vlan) {
    l.reset(rtnl_link_vlan_alloc());
    if (l) rtnl_link_vlan_set_id(l.get(), d.vlan_id);
  } else {
    l.reset(rtnl_link_vxlan_alloc());
    if (l) {
      rtnl_link_vxlan_set_id(l.get(), d.vni);
      if (d.remote) {
        auto remote = to_nl(*d.remote, d.remote->is_v4() ? 32 : 128);
        rtnl_link_vxlan_set_group(l.get(), remote.get());  // a unicast "group" is the remote VTEP
      }
      rtnl_link_vxlan_set_port(l.get(), d.port);
      rtnl_link_vxlan_set_link(l.get(), uint32_t(parent_ifindex));
    }
  }
  if (!l) return l;
  rtnl_link_set_name(l.get(), d.name.c_str());
  rtnl_link_set_link(l.get(), parent_ifindex);
  if (mtu) rtnl_link_set_mtu(l.get(), mtu);
  rtnl_link_set_flags(l.get(), IFF_UP);
  return l;
}


std::optional<IpAddress> from_nl(nl_addr* a) {
  if (!a || nl_addr_get_len(a) == 0) return std::nullopt;
  const auto* p = static_cast<const unsigned char*>(nl_addr_get_binary_addr(a));
  if (nl_addr_get_family(a) == AF_INET && nl_addr_get_len(a) == 4) {
    boost::asio::ip::address_v4::bytes_type b;
    std::copy(p, p + 4, b.begin());
    return IpAddress(boost::asio::ip::address_v4(b));
  }
  if (nl_addr_get_family(a) == AF_INET6 && nl_addr_get_len(a) == 16) {
    boost::asio::ip::address_v6::bytes_type b;
    std::copy(p, p + 16, b.begin());
    return IpAddress(boost::asio::ip::address_v6(b));
  }
  return std::nullopt;
}

// 0.0.0.0/0 comes back from the kernel as an empty address.
Prefix prefix_of(nl_addr* a) {
  auto ip = from_nl(a);
  return Prefix{ip.value_or(IpAddress(boost::asio::ip::address_v4::any())),
                static_cast<uint8_t>(a ? nl_addr_get_prefixlen(a) : 0)};
}

template <class Fn>
void for_each(nl_cache* c, Fn fn) {
  for (nl_object* o = nl_cache_get_first(c); o; o = nl_cache_get_next(o)) fn(o);
}

constexpr unsigned kVxlanOverhead = 50;  // outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8

struct Installed {
  RouteSpec spec;
  rtnl_route* route;
};

}  // namespace

std::string RouteSpec::to_string() const {
  return dst.to_string() + (gateway ? " via " + gateway->to_string() : "") + " dev " + ifname + " metric " +
         std::to_string(metric);
}

Result<std::unique_ptr<NetlinkRouting>> NetlinkRouting::open(uint32_t table, uint32_t priority) {
  nl_sock* sk = nl_socket_alloc();
  if (!sk) return make_error("netlink: out of memory");
  if (int e = nl_connect(sk, NETLINK_ROUTE); e < 0) {
    nl_socket_free(sk);
    return nl_error("netlink connect", e);
  }
  return std::unique_ptr<NetlinkRouting>(new NetlinkRouting(sk, table, priority));
}

NetlinkRouting::~NetlinkRouting() { nl_socket_free(sk_); }

std::optional<LinkState> NetlinkRouting::link(const std::string& name) {
  rtnl_link* l = nullptr;
  if (name.empty() || rtnl_link_get_kernel(sk_, 0, name.c_str(), &l) < 0 || !l) return std::nullopt;
  LinkState s{name, rtnl_link_get_ifindex(l), (rtnl_link_get_flags(l) & IFF_UP) != 0,
              (rtnl_link_get_flags(l) & IFF_LOWER_UP) != 0, rtnl_link_get_mtu(l)};
  rtnl_link_put(l);
  return s;
}

int NetlinkRouting::ifindex(const std::string& name) {
  auto l = link(name);
  return l && l->admin_up ? l->ifindex : 0;
}

Result<void> NetlinkRouting::add_route(const RouteSpec& r, int flags) {
  int index = ifindex(r.ifname);
  if (index == 0) return make_error("interface " + r.ifname + " is missing or down");
  rtnl_route* route = rtnl_route_alloc();
  rtnl_route_set_family(route, r.dst.address.is_v4() ? AF_INET : AF_INET6);
  rtnl_route_set_table(route, table_);
  rtnl_route_set_protocol(route, kRouteProtocol);
  rtnl_route_set_type(route, RTN_UNICAST);
  rtnl_route_set_scope(route, r.gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
  rtnl_route_set_priority(route, r.metric);
  auto dst = to_nl(r.dst.address, r.dst.length);
  rtnl_route_set_dst(route, dst.get());
  rtnl_nexthop* nh = rtnl_route_nh_alloc();
  rtnl_route_nh_set_ifindex(nh, index);
  if (r.gateway) {
    auto gw = to_nl(*r.gateway, r.gateway->is_v4() ? 32 : 128);
    rtnl_route_nh_set_gateway(nh, gw.get());
  }
  rtnl_route_add_nexthop(route, nh);  // the route owns nh now
  int e = rtnl_route_add(sk_, route, flags);
  rtnl_route_put(route);
  if (e < 0) return nl_error("route " + r.to_string(), e);
  return {};
}

Result<void> NetlinkRouting::replace(const RouteSpec& r) { return add_route(r, NLM_F_CREATE | NLM_F_REPLACE); }

ReconcileReport NetlinkRouting::reconcile(const RoutingState& want) {
  ReconcileReport rep;
  // Routes: everything in the owned table is ours; keep what matches, delete the rest.
  nl_cache* raw = nullptr;
  if (int e = rtnl_route_alloc_cache(sk_, AF_INET, 0, &raw); e < 0) {
    rep.errors.push_back(nl_geterror(e));
    return rep;
  }
  CachePtr routes(raw);
  std::vector<bool> present(want.routes.size(), false);
  std::map<std::string, int> ifindexes;  // one look-up per interface, not per comparison
  for (const auto& w : want.routes)
    if (!ifindexes.count(w.ifname)) ifindexes[w.ifname] = ifindex(w.ifname);
  for_each(routes.get(), [&](nl_object* o) {
    auto* r = reinterpret_cast<rtnl_route*>(o);
    if (rtnl_route_get_table(r) != table_) return;
    RouteSpec have{prefix_of(rtnl_route_get_dst(r)), rtnl_route_get_priority(r), {}, {}};
    bool keep = false;
    if (rtnl_route_get_nnexthops(r) == 1 && rtnl_route_get_type(r) == RTN_UNICAST) {
      rtnl_nexthop* nh = rtnl_route_nexthop_n(r, 0);
      have.gateway = from_nl(rtnl_route_nh_get_gateway(nh));
      for (size_t i = 0; i < want.routes.size(); ++i) {
        const auto& w = want.routes[i];
        if (present[i] || !(w.dst == have.dst) || w.metric != have.metric || w.gateway != have.gateway) continue;
        if (ifindexes[w.ifname] != 0 && ifindexes[w.ifname] == rtnl_route_nh_get_ifindex(nh)) keep = present[i] = true;
        break;
      }
    }
    if (keep) return;
    if (int e = rtnl_route_delete(sk_, r, 0); e < 0 && e != -NLE_OBJ_NOTFOUND)
      rep.errors.push_back("delete route " + have.dst.to_string() + ": " + nl_geterror(e));
    else
      ++rep.routes_removed;
  });
  for (size_t i = 0; i < want.routes.size(); ++i) {
    if (present[i]) continue;
    if (ifindexes[want.routes[i].ifname] == 0) {
      ++rep.pending;
      continue;
    }
    if (auto r = add_route(want.routes[i], NLM_F_CREATE | NLM_F_REPLACE); !r) rep.errors.push_back(r.error().message);
    else ++rep.routes_added;
  }
  // Rules at the owned priority that point to the owned table are ours.
  if (int e = rtnl_rule_alloc_cache(sk_, AF_INET, &raw); e < 0) {
    rep.errors.push_back(nl_geterror(e));
    return rep;
  }
  CachePtr rules(raw);
  std::vector<bool> rule_present(want.rule_destinations.size(), false);
  for_each(rules.get(), [&](nl_object* o) {
    auto* r = reinterpret_cast<rtnl_rule*>(o);
    if (rtnl_rule_get_prio(r) != priority_ || rtnl_rule_get_table(r) != table_) return;
    Prefix dst = prefix_of(rtnl_rule_get_dst(r));
    bool plain = rtnl_rule_get_action(r) == FR_ACT_TO_TBL && !rtnl_rule_get_iif(r) && !rtnl_rule_get_oif(r) &&
                 rtnl_rule_get_mark(r) == 0 && (!rtnl_rule_get_src(r) || nl_addr_get_prefixlen(rtnl_rule_get_src(r)) == 0);
    for (size_t i = 0; plain && i < want.rule_destinations.size(); ++i)
      if (!rule_present[i] && want.rule_destinations[i] == dst) {
        rule_present[i] = true;
        return;
      }
    if (int e = rtnl_rule_delete(sk_, r, 0); e < 0 && e != -NLE_OBJ_NOTFOUND)
      rep.errors.push_back("delete rule to " + dst.to_string() + ": " + nl_geterror(e));
    else
      ++rep.rules_removed;
  });
  for (size_t i = 0; i < want.rule_destinations.size(); ++i) {
    if (rule_present[i]) continue;
    const auto& p = want.rule_destinations[i];
    rtnl_rule* rule = rtnl_rule_alloc();
    rtnl_rule_set_family(rule, AF_INET);
    rtnl_rule_set_prio(rule, priority_);
    rtnl_rule_set_table(rule, table_);
    rtnl_rule_set_action(rule, FR_ACT_TO_TBL);
    auto dst = to_nl(p.address, p.length);
    rtnl_rule_set_dst(rule, dst.get());
    int e = rtnl_rule_add(sk_, rule, NLM_F_CREATE | NLM_F_EXCL);
    rtnl_rule_put(rule);
    if (e < 0 && e != -NLE_EXIST) rep.errors.push_back("rule to " + p.to_string() + ": " + nl_geterror(e));
    else ++rep.rules_added;
  }
  return rep;
}

ReconcileReport NetlinkRouting::remove_all() { return reconcile(RoutingState{}); }

// One address object for add/delete: (ifindex, local/prefixlen). Returns an error if the
// interface is missing.
Result<std::unique_ptr<rtnl_addr, void (*)(rtnl_addr*)>> NetlinkRouting::address_object(
    const std::string& ifname, const InterfaceAddress& address) {
  auto l = link(ifname);
  if (!l) return make_error("interface " + ifname + " not found");
  std::unique_ptr<rtnl_addr, void (*)(rtnl_addr*)> a(rtnl_addr_alloc(), rtnl_addr_put);
  rtnl_addr_set_ifindex(a.get(), l->ifindex);
  auto local = to_nl(address.address, address.length);
  rtnl_addr_set_local(a.get(), local.get());
  return a;
}

Result<void> NetlinkRouting::ensure_address(const std::string& ifname, const InterfaceAddress& address) {
  auto added = add_address_if_missing(ifname, address);
  if (!added) return added.error();
  return {};
}

Result<bool> NetlinkRouting::add_address_if_missing(const std::string& ifname, const InterfaceAddress& address) {
  auto a = address_object(ifname, address);
  if (!a) return a.error();
  int e = rtnl_addr_add(sk_, a->get(), NLM_F_CREATE | NLM_F_EXCL);
  if (e == -NLE_EXIST) return false;
  if (e < 0) return nl_error("address " + address.to_string() + " on " + ifname, e);
  return true;
}

Result<void> NetlinkRouting::remove_address(const std::string& ifname, const InterfaceAddress& address) {
  auto a = address_object(ifname, address);
  if (!a) return {};  // gone with its interface
  int e = rtnl_addr_delete(sk_, a->get(), 0);
  if (e < 0 && e != -NLE_OBJ_NOTFOUND && e != -NLE_NOADDR)
    return nl_error("remove address " + address.to_string() + " from " + ifname, e);
  return {};
}

Result<void> NetlinkRouting::set_link(const std::string& ifname, bool up, unsigned mtu) {
  rtnl_link* orig = nullptr;
  if (int e = rtnl_link_get_kernel(sk_, 0, ifname.c_str(), &orig); e < 0) return nl_error("link " + ifname, e);
  rtnl_link* change = rtnl_link_alloc();
  if (up) rtnl_link_set_flags(change, IFF_UP);
  else rtnl_link_unset_flags(change, IFF_UP);
  if (mtu) rtnl_link_set_mtu(change, mtu);
  int e = rtnl_link_change(sk_, orig, change, 0);
  rtnl_link_put(change);
  rtnl_link_put(orig);
  if (e < 0) return nl_error("link " + ifname, e);
  return {};
}

std::string DeviceSpec::to_string() const {
  if (kind == Kind::vlan) return name + " (VLAN " + std::to_string(vlan_id) + " on " + parent + ")";
  return name + " (VXLAN " + std::to_string(vni) + " to " + (remote ? remote->to_string() : "?") + ":" +
         std::to_string(port) + " over " + parent + ")";
}

Result<bool> NetlinkRouting::ensure_device(const DeviceSpec& d) {
  auto parent = link(d.parent);
  if (!parent) return make_error("cannot create " + d.to_string() + ": " + d.parent + " not found");
  // The kernel refuses a VXLAN MTU above the underlay's minus the encapsulation (IPv4: 50 bytes).
  unsigned mtu = d.kind == DeviceSpec::Kind::vxlan && parent->mtu > kVxlanOverhead
                     ? std::min(d.mtu, parent->mtu - kVxlanOverhead)
                     : d.mtu;
  rtnl_link* have = nullptr;
  if (rtnl_link_get_kernel(sk_, 0, d.name.c_str(), &have) >= 0 && have) {
    const char* type = rtnl_link_get_type(have);
    uint32_t vni = 0;
    bool same = d.kind == DeviceSpec::Kind::vlan
                    ? type && std::string(type) == "vlan" && rtnl_link_vlan_get_id(have) == d.vlan_id
                    : type && std::string(type) == "vxlan" && rtnl_link_vxlan_get_id(have, &vni) == 0 && vni == d.vni;
    bool settled = (rtnl_link_get_flags(have) & IFF_UP) && (!mtu || rtnl_link_get_mtu(have) == mtu);
    rtnl_link_put(have);
    if (!same) return make_error(d.name + " exists and is not " + d.to_string() + ": left alone");
    if (settled) return false;
    if (auto r = set_link(d.name, true, mtu); !r) return r.error();
    return false;
  }
  auto l = device_link(d, parent->ifindex, mtu);
  if (!l) return make_error("netlink: out of memory");
  int e = rtnl_link_add(sk_, l.get(), NLM_F_CREATE | NLM_F_EXCL);
  if (e < 0) return nl_error("create " + d.to_string(), e);
  return true;
}

Result<std::vector<uint8_t>> device_add_request(const DeviceSpec& device, int parent_ifindex, unsigned mtu) {
  auto l = device_link(device, parent_ifindex, mtu);
  if (!l) return make_error("netlink: out of memory");
  nl_msg* msg = nullptr;
  if (int e = rtnl_link_build_add_request(l.get(), NLM_F_CREATE | NLM_F_EXCL, &msg); e < 0)
    return nl_error("build " + device.to_string(), e);
  const nlmsghdr* h = nlmsg_hdr(msg);
  const auto* bytes = reinterpret_cast<const uint8_t*>(h);
  std::vector<uint8_t> out(bytes, bytes + h->nlmsg_len);
  nlmsg_free(msg);
  return out;
}

Result<void> NetlinkRouting::delete_device(const std::string& name) {
  rtnl_link* l = nullptr;
  if (rtnl_link_get_kernel(sk_, 0, name.c_str(), &l) < 0 || !l) return {};  // gone already
  int e = rtnl_link_delete(sk_, l);
  rtnl_link_put(l);
  if (e < 0 && e != -NLE_OBJ_NOTFOUND && e != -NLE_NODEV) return nl_error("delete " + name, e);
  return {};
}

nlohmann::json NetlinkRouting::dump() {
  nlohmann::json out = {{"table", table_}, {"rule_priority", priority_}, {"routes", nlohmann::json::array()},
                        {"rules", nlohmann::json::array()}};
  nl_cache* raw = nullptr;
  std::map<int, std::string> names;
  if (rtnl_link_alloc_cache(sk_, AF_UNSPEC, &raw) >= 0) {
    CachePtr links(raw);
    for_each(links.get(), [&](nl_object* o) {
      auto* l = reinterpret_cast<rtnl_link*>(o);
      names[rtnl_link_get_ifindex(l)] = rtnl_link_get_name(l);
    });
  }
  if (rtnl_route_alloc_cache(sk_, AF_INET, 0, &raw) >= 0) {
    CachePtr routes(raw);
    for_each(routes.get(), [&](nl_object* o) {
      auto* r = reinterpret_cast<rtnl_route*>(o);
      if (rtnl_route_get_table(r) != table_) return;
      nlohmann::json j = {{"dst", prefix_of(rtnl_route_get_dst(r)).to_string()}, {"metric", rtnl_route_get_priority(r)}};
      if (rtnl_route_get_nnexthops(r) >= 1) {
        rtnl_nexthop* nh = rtnl_route_nexthop_n(r, 0);
        auto gw = from_nl(rtnl_route_nh_get_gateway(nh));
        j["via"] = gw ? gw->to_string() : "-";
        j["dev"] = names.count(rtnl_route_nh_get_ifindex(nh)) ? names[rtnl_route_nh_get_ifindex(nh)] : "?";
      }
      out["routes"].push_back(j);
    });
  }
  if (rtnl_rule_alloc_cache(sk_, AF_INET, &raw) >= 0) {
    CachePtr rules(raw);
    for_each(rules.get(), [&](nl_object* o) {
      auto* r = reinterpret_cast<rtnl_rule*>(o);
      if (rtnl_rule_get_prio(r) != priority_) return;
      out["rules"].push_back({{"priority", rtnl_rule_get_prio(r)},
                              {"to", prefix_of(rtnl_rule_get_dst(r)).to_string()},
                              {"table", rtnl_rule_get_table(r)}});
    });
  }
  return out;
}

// ---- events ---------------------------------------------------------------------------

Result<std::unique_ptr<NetlinkEvents>> NetlinkEvents::open(boost::asio::io_context& io, uint32_t table,
                                                           uint32_t priority, LinkHandler on_link,
                                                           ChangeHandler on_change, ResyncHandler on_resync) {
  nl_sock* sk = nl_socket_alloc();
  if (!sk) return make_error("netlink: out of memory");
  std::unique_ptr<NetlinkEvents> ev(new NetlinkEvents(io, sk, table, priority));
  ev->on_link_ = std::move(on_link);
  ev->on_change_ = std::move(on_change);
  ev->on_resync_ = std::move(on_resync);
  nl_socket_disable_seq_check(sk);
  nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, &NetlinkEvents::on_message, ev.get());
  if (int e = nl_connect(sk, NETLINK_ROUTE); e < 0) return nl_error("netlink connect", e);
  if (int e = nl_socket_add_memberships(sk, RTNLGRP_LINK, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV4_RULE, 0); e < 0)
    return nl_error("netlink subscribe", e);
  nl_socket_set_buffer_size(sk, 1 << 20, 0);
  nl_socket_set_nonblocking(sk);
  ev->stream_.assign(nl_socket_get_fd(sk));
  ev->wait();
  return ev;
}

NetlinkEvents::~NetlinkEvents() {
  *alive_ = false;
  boost::system::error_code ec;
  stream_.cancel(ec);
  stream_.release();  // the fd belongs to the nl_sock
  nl_socket_free(sk_);
}

void NetlinkEvents::wait() {
  stream_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                     [this, alive = alive_](boost::system::error_code ec) {
                       if (ec || !*alive) return;
                       int e = nl_recvmsgs_default(sk_);
                       if (!*alive) return;
                       if (e == -NLE_NOMEM) on_resync_();  // ENOBUFS: the kernel dropped events
                       wait();
                     });
}

int NetlinkEvents::on_message(nl_msg* msg, void* arg) {
  auto* self = static_cast<NetlinkEvents*>(arg);
  self->msg_type_ = nlmsg_hdr(msg)->nlmsg_type;
  ++self->events_;
  nl_msg_parse(msg, &NetlinkEvents::on_object, self);
  return NL_OK;
}

void NetlinkEvents::on_object(nl_object* obj, void* arg) {
  auto* self = static_cast<NetlinkEvents*>(arg);
  std::string type = nl_object_get_type(obj);
  if (type == "route/link") {
    auto* l = reinterpret_cast<rtnl_link*>(obj);
    unsigned flags = rtnl_link_get_flags(l);
    LinkState s{rtnl_link_get_name(l) ? rtnl_link_get_name(l) : "", rtnl_link_get_ifindex(l), (flags & IFF_UP) != 0,
                (flags & IFF_LOWER_UP) != 0, rtnl_link_get_mtu(l)};
    self->on_link_(s, self->msg_type_ == RTM_DELLINK);
  } else if (type == "route/route") {
    if (rtnl_route_get_table(reinterpret_cast<rtnl_route*>(obj)) == self->table_) self->on_change_();
  } else if (type == "route/rule") {
    if (rtnl_rule_get_prio(reinterpret_cast<rtnl_rule*>(obj)) == self->priority_) self->on_change_();
  }
}

}  // namespace outpost::vpn
