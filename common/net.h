#pragma once
// Address, prefix, endpoint and port-range value types, parsed from config text.
#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace outpost {

using IpAddress = boost::asio::ip::address;

std::optional<IpAddress> parse_address(std::string_view text);
// Appends the address as text ("192.0.2.1", "2001:db8::1"; IpAddress::to_string's text).
// IPv4 is written digit by digit: inet_ntop's sprintf was ~5 % of a proxied call's
// instructions, the SIP proxy formatting addresses several times per message.
void append_address(std::string& out, const IpAddress& address);
// The source address the kernel would pick for a packet to `destination` (a connected UDP
// socket: no packet is sent); nullopt without a route.
std::optional<IpAddress> source_address_toward(const IpAddress& destination);

struct Prefix {
  IpAddress address;  // network address (host bits cleared)
  uint8_t length = 0;

  bool contains(const IpAddress& a) const;
  bool overlaps(const Prefix& other) const;
  std::string to_string() const;
  bool operator==(const Prefix&) const = default;
};

// "192.0.2.0/24"; a bare address is a host prefix. Host bits set is an error unless
// allow_host_bits (an interface address such as 10.20.0.1/24).
struct PrefixParse {
  std::optional<Prefix> prefix;
  std::string error;
};
PrefixParse parse_prefix(std::string_view text, bool allow_host_bits = false);

// An interface address with its prefix length ("10.20.0.1/24").
struct InterfaceAddress {
  IpAddress address;
  uint8_t length = 0;
  Prefix network() const;
  std::string to_string() const;
};
std::optional<InterfaceAddress> parse_interface_address(std::string_view text);

struct Endpoint {
  IpAddress address;
  uint16_t port = 0;
  std::string to_string() const;
};
// "192.0.2.1:53", "[2001:db8::1]:53"; a bare address takes default_port (0 = port required).
std::optional<Endpoint> parse_endpoint(std::string_view text, uint16_t default_port = 0);

struct PortRange {
  uint16_t first = 0;
  uint16_t last = 0;
  bool overlaps(const PortRange& o) const { return first <= o.last && o.first <= last; }
  bool contains(uint16_t p) const { return p >= first && p <= last; }
  unsigned size() const { return static_cast<unsigned>(last) - first + 1; }
  std::string to_string() const;
};
// "10000-20000" or "5060".
std::optional<PortRange> parse_port_range(std::string_view text);

// RFC 1123 host name, optionally with a leading "*." wildcard label when allowed.
bool valid_dns_name(std::string_view name, bool allow_wildcard);

}  // namespace outpost
