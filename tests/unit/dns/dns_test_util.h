#pragma once
// Builders for DNS packets in tests: names keep the letter case given. And the lab's policy.
#include <catch2/catch.hpp>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dns/policy.h"

namespace outpost::dns::test {

using Bytes = std::vector<uint8_t>;

// The lab's split horizon: `patterns` answered with the LAN address 10.20.0.1, clients from
// `clients`, the vendor at 203.0.113.0/24, TTL 30 s.
inline std::shared_ptr<const Policy> lab_policy(std::string_view clients, std::initializer_list<const char*> patterns) {
  RuleSet rules;
  const RewriteTarget lan{boost::asio::ip::make_address_v4("10.20.0.1"), std::nullopt};
  for (const char* p : patterns) REQUIRE(rules.add(p, lan, "lab"));
  return std::make_shared<Policy>(std::vector<Prefix>{*parse_prefix(clients).prefix}, std::move(rules), 30,
                                  std::vector<Prefix>{*parse_prefix("203.0.113.0/24").prefix});
}

inline void put_u16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
inline void put_u32(Bytes& b, uint32_t v) {
  put_u16(b, static_cast<uint16_t>(v >> 16));
  put_u16(b, static_cast<uint16_t>(v));
}
// "Sip.Example" -> 3Sip7Example0 (case kept); "." -> 0
inline Bytes wire_name(std::string_view name) {
  Bytes b;
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  size_t start = 0;
  while (!name.empty() && start <= name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) dot = name.size();
    b.push_back(static_cast<uint8_t>(dot - start));
    b.insert(b.end(), name.begin() + static_cast<long>(start), name.begin() + static_cast<long>(dot));
    start = dot + 1;
  }
  b.push_back(0);
  return b;
}

struct Packet {
  Bytes bytes;
  explicit Packet(uint16_t id = 0x1234, uint16_t flags = 0x0100) {
    put_u16(bytes, id), put_u16(bytes, flags);
    for (int i = 0; i < 4; ++i) put_u16(bytes, 0);
  }
  void count(int section) {  // 0 qd, 1 an, 2 ns, 3 ar
    size_t at = 4 + 2 * static_cast<size_t>(section);
    uint16_t v = static_cast<uint16_t>(bytes[at] << 8 | bytes[at + 1]);
    ++v;
    bytes[at] = static_cast<uint8_t>(v >> 8), bytes[at + 1] = static_cast<uint8_t>(v);
  }
  Packet& question(std::string_view name, uint16_t type, uint16_t klass = 1) {
    auto n = wire_name(name);
    bytes.insert(bytes.end(), n.begin(), n.end());
    put_u16(bytes, type), put_u16(bytes, klass);
    count(0);
    return *this;
  }
  // owner: a name, or "@" for a pointer to the question name at offset 12.
  Packet& rr(int section, std::string_view owner, uint16_t type, uint32_t ttl, const Bytes& rdata, uint16_t klass = 1) {
    if (owner == "@") bytes.push_back(0xC0), bytes.push_back(12);
    else {
      auto n = wire_name(owner);
      bytes.insert(bytes.end(), n.begin(), n.end());
    }
    put_u16(bytes, type), put_u16(bytes, klass), put_u32(bytes, ttl), put_u16(bytes, static_cast<uint16_t>(rdata.size()));
    bytes.insert(bytes.end(), rdata.begin(), rdata.end());
    count(section);
    return *this;
  }
  Packet& opt(uint16_t udp = 1232, bool do_bit = false, uint8_t version = 0, const Bytes& options = {}) {
    bytes.push_back(0);
    put_u16(bytes, 41), put_u16(bytes, udp);
    put_u32(bytes, static_cast<uint32_t>(version) << 16 | (do_bit ? 0x8000u : 0u));
    put_u16(bytes, static_cast<uint16_t>(options.size()));
    bytes.insert(bytes.end(), options.begin(), options.end());
    count(3);
    return *this;
  }
};

inline Bytes query(std::string_view name, uint16_t type, bool edns = false, uint16_t id = 0x1234) {
  Packet p(id, 0x0100);
  p.question(name, type);
  if (edns) p.opt();
  return p.bytes;
}

// A query header with no question.
inline Bytes header_only(uint16_t flags = 0x0100) {
  Packet p(0x1234, flags);
  return p.bytes;
}

inline Bytes v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return {a, b, c, d}; }

}  // namespace outpost::dns::test
