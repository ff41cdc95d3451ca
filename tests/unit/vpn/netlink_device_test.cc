// The RTM_NEWLINK requests outpost sends to create the primary's devices, checked as bytes:
// this machine's kernel has no 802.1Q, so the VLAN request can only be verified here.
#include <catch2/catch.hpp>

#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>

#include <cstring>
#include <map>

#include "vpn/netlink_routing.h"

using namespace outpost;
using namespace outpost::vpn;

namespace {

using Attrs = std::map<uint16_t, std::vector<uint8_t>>;

Attrs parse(const uint8_t* p, size_t n) {
  Attrs out;
  while (n >= sizeof(rtattr)) {
    rtattr a;
    std::memcpy(&a, p, sizeof a);
    if (a.rta_len < sizeof a || a.rta_len > n) break;
    out[a.rta_type & NLA_TYPE_MASK] = std::vector<uint8_t>(p + RTA_LENGTH(0), p + a.rta_len);
    size_t step = RTA_ALIGN(a.rta_len);
    if (step > n) break;
    p += step;
    n -= step;
  }
  return out;
}

template <typename T>
T scalar(const std::vector<uint8_t>& v) {
  REQUIRE(v.size() >= sizeof(T));
  T t;
  std::memcpy(&t, v.data(), sizeof t);
  return t;
}

std::string text(const std::vector<uint8_t>& v) { return std::string(reinterpret_cast<const char*>(v.data())); }

struct Request {
  nlmsghdr header;
  ifinfomsg info;
  Attrs attrs;
};

Request request(const DeviceSpec& d, int parent, unsigned mtu) {
  auto bytes = device_add_request(d, parent, mtu);
  REQUIRE(bytes);
  REQUIRE(bytes->size() >= NLMSG_LENGTH(sizeof(ifinfomsg)));
  Request r;
  std::memcpy(&r.header, bytes->data(), sizeof r.header);
  std::memcpy(&r.info, bytes->data() + NLMSG_HDRLEN, sizeof r.info);
  size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(ifinfomsg));
  r.attrs = parse(bytes->data() + off, bytes->size() - off);
  return r;
}

}  // namespace

TEST_CASE("the 802.1Q device request: RTM_NEWLINK, create-exclusive, kind vlan, id, parent, MTU, up") {
  DeviceSpec d;
  d.kind = DeviceSpec::Kind::vlan;
  d.name = "wanp0.120";
  d.parent = "wanp0";
  d.vlan_id = 120;
  auto r = request(d, 7, 1400);
  CHECK(r.header.nlmsg_type == RTM_NEWLINK);
  CHECK((r.header.nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL)) == (NLM_F_CREATE | NLM_F_EXCL));
  CHECK((r.info.ifi_flags & IFF_UP) != 0);
  CHECK((r.info.ifi_change & IFF_UP) != 0);
  REQUIRE(r.attrs.count(IFLA_IFNAME));
  CHECK(text(r.attrs[IFLA_IFNAME]) == "wanp0.120");
  REQUIRE(r.attrs.count(IFLA_LINK));
  CHECK(scalar<uint32_t>(r.attrs[IFLA_LINK]) == 7);
  REQUIRE(r.attrs.count(IFLA_MTU));
  CHECK(scalar<uint32_t>(r.attrs[IFLA_MTU]) == 1400);
  REQUIRE(r.attrs.count(IFLA_LINKINFO));
  auto& li = r.attrs[IFLA_LINKINFO];
  auto info = parse(li.data(), li.size());
  REQUIRE(info.count(IFLA_INFO_KIND));
  CHECK(text(info[IFLA_INFO_KIND]) == "vlan");
  REQUIRE(info.count(IFLA_INFO_DATA));
  auto data = parse(info[IFLA_INFO_DATA].data(), info[IFLA_INFO_DATA].size());
  REQUIRE(data.count(IFLA_VLAN_ID));
  CHECK(scalar<uint16_t>(data[IFLA_VLAN_ID]) == 120);
}

TEST_CASE("the VXLAN device request: kind vxlan, VNI, remote VTEP, port, underlay") {
  DeviceSpec d;
  d.kind = DeviceSpec::Kind::vxlan;
  d.name = "opvx5000";
  d.parent = "wanp0";
  d.vni = 5000;
  d.remote = *parse_address("198.51.100.2");
  d.port = 4789;
  auto r = request(d, 3, 0);
  CHECK(r.header.nlmsg_type == RTM_NEWLINK);
  CHECK(text(r.attrs[IFLA_IFNAME]) == "opvx5000");
  CHECK(r.attrs.count(IFLA_MTU) == 0);  // 0: the kernel's default
  auto& li = r.attrs[IFLA_LINKINFO];
  auto info = parse(li.data(), li.size());
  CHECK(text(info[IFLA_INFO_KIND]) == "vxlan");
  auto data = parse(info[IFLA_INFO_DATA].data(), info[IFLA_INFO_DATA].size());
  CHECK(scalar<uint32_t>(data[IFLA_VXLAN_ID]) == 5000);
  CHECK(scalar<uint32_t>(data[IFLA_VXLAN_LINK]) == 3);
  REQUIRE(data.count(IFLA_VXLAN_GROUP));
  CHECK(data[IFLA_VXLAN_GROUP] == std::vector<uint8_t>{198, 51, 100, 2});
  REQUIRE(data.count(IFLA_VXLAN_PORT));
  CHECK(scalar<uint16_t>(data[IFLA_VXLAN_PORT]) == htons(4789));
}
