#pragma once
// act, forward path: turns the LAN resolver's answer packet into what a LAN client may see.
// No path may leak a vendor name's real address:
//   - a CNAME chain from the question that reaches a vendor name is kept up to that name,
//     which then gets the rewrite (A = LAN address, AAAA = LAN IPv6 or nothing, other types
//     nothing); the rest of the chain, authority and additional sections are dropped, and the
//     rcode becomes NOERROR;
//   - records owned by a vendor name anywhere else (glue, authority) are dropped;
//   - HTTPS/SVCB records lose ipv4hint/ipv6hint when their target is a vendor name or a
//     hint address lies in the vendor's prefixes;
//   - without DO from the client, RRSIG/NSEC/NSEC3 records are dropped (libunbound asks
//     upstream with DO).
// An answer that needs none of this is copied as is (minus OPT); otherwise it is rebuilt
// with uncompressed names (owner names equal to the question point at it).
#include <span>

#include "dns/answer.h"
#include "dns/policy.h"

namespace outpost::dns {

struct UpstreamQuestion {
  const WireName& qname;
  uint16_t qtype;
  uint16_t qclass;
  bool client_do;
};

// False when `upstream` is not a usable answer to the question (the caller answers SERVFAIL).
bool prepare_upstream_answer(std::span<const uint8_t> upstream, const UpstreamQuestion& question,
                             const Policy& policy, PreparedAnswer& out);

}  // namespace outpost::dns
