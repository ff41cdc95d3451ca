// Symmetric latching rules: consecutive packets from one allowed source, hijack attempts
// from sources neither signalled nor allowed by policy, re-latching after NAT rebinding.
#include <catch2/catch.hpp>

#include "dataplane/media_latching.h"

using namespace outpost;
using namespace outpost::media;

namespace {
UdpEndpoint ep(const char* address, uint16_t port) { return UdpEndpoint(*parse_address(address), port); }
std::vector<Prefix> prefixes(const char* text) { return {*parse_prefix(text).prefix}; }
}  // namespace

TEST_CASE("media latching: the destination is the signalled peer until latch_packets consecutive packets") {
  Latch latch;
  latch.set_signalled(ep("192.0.2.10", 4000));
  const auto policy = prefixes("192.0.2.0/24");
  const auto nat = ep("192.0.2.10", 61000);  // the phone really sends from here
  CHECK(latch.on_packet(nat, policy, 3).allowed);
  CHECK(latch.on_packet(nat, policy, 3).allowed);
  CHECK(*latch.destination() == ep("192.0.2.10", 4000));
  CHECK_FALSE(latch.latched());
  auto third = latch.on_packet(nat, policy, 3);
  CHECK(third.allowed);
  CHECK(third.latched);
  CHECK_FALSE(third.relatched);
  CHECK(*latch.destination() == nat);
}

TEST_CASE("media latching: packets from another source break the run") {
  Latch latch;
  const auto policy = prefixes("192.0.2.0/24");
  const auto a = ep("192.0.2.10", 4000), b = ep("192.0.2.11", 4000);
  latch.on_packet(a, policy, 3);
  latch.on_packet(a, policy, 3);
  latch.on_packet(b, policy, 3);  // a's run starts over
  CHECK_FALSE(latch.on_packet(a, policy, 3).latched);
  CHECK_FALSE(latch.on_packet(a, policy, 3).latched);
  CHECK(latch.on_packet(a, policy, 3).latched);
  CHECK(*latch.latched() == a);
}

TEST_CASE("media latching: a source neither signalled nor allowed is dropped and never latched") {
  Latch latch;
  latch.set_signalled(ep("203.0.113.5", 20000));  // the vendor's media server
  const auto policy = prefixes("203.0.113.0/24");  // vendor.prefixes
  const auto real = ep("203.0.113.5", 20000);
  for (int i = 0; i < 3; ++i) latch.on_packet(real, policy, 3);
  REQUIRE(*latch.latched() == real);
  const auto attacker = ep("198.51.100.66", 20000);
  for (int i = 0; i < 10; ++i) CHECK_FALSE(latch.on_packet(attacker, policy, 3).allowed);
  CHECK(*latch.destination() == real);
}

TEST_CASE("media latching: the signalled address is allowed even outside the policy prefixes") {
  Latch latch;
  latch.set_signalled(ep("198.51.100.7", 5004));
  const std::vector<Prefix> none;
  const auto from = ep("198.51.100.7", 5010);
  CHECK(latch.on_packet(from, none, 2).allowed);
  CHECK(latch.on_packet(from, none, 2).latched);
  CHECK_FALSE(latch.on_packet(ep("198.51.100.8", 5004), none, 2).allowed);
}

TEST_CASE("media latching: a new allowed source re-latches after latch_packets, not before") {
  Latch latch;
  const auto policy = prefixes("192.0.2.0/24");
  const auto before = ep("192.0.2.10", 61000), after = ep("192.0.2.10", 62000);  // NAT rebinding
  for (int i = 0; i < 3; ++i) latch.on_packet(before, policy, 3);
  REQUIRE(*latch.latched() == before);
  CHECK(latch.on_packet(after, policy, 3).allowed);  // forwarded, but not yet trusted
  CHECK(latch.on_packet(after, policy, 3).allowed);
  CHECK(*latch.destination() == before);
  auto third = latch.on_packet(after, policy, 3);
  CHECK(third.latched);
  CHECK(third.relatched);
  CHECK(*latch.destination() == after);
}

TEST_CASE("media latching: an allowed spoofer interleaving with the latched peer never takes over") {
  Latch latch;
  const auto policy = prefixes("192.0.2.0/24");
  const auto peer = ep("192.0.2.10", 61000), spoofer = ep("192.0.2.99", 61000);
  for (int i = 0; i < 3; ++i) latch.on_packet(peer, policy, 3);
  for (int i = 0; i < 20; ++i) {
    CHECK_FALSE(latch.on_packet(spoofer, policy, 3).latched);
    CHECK_FALSE(latch.on_packet(spoofer, policy, 3).latched);
    latch.on_packet(peer, policy, 3);
  }
  CHECK(*latch.destination() == peer);
}
