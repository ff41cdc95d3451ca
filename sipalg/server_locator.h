#pragma once
// decide, uplink: which vendor SIP server a new request goes to. The profile's
// sip_servers are located per RFC 3263 through outpost's uplink resolver: an IP address is
// used as is; a name with a port is looked up as A; a name without one as NAPTR, whose
// record for the profile's transport names the SRV name, else SRV _sip._udp / _sip._tcp,
// falling back to A on port 5060 (TLS: NAPTR SIPS+D2T, SRV _sips._tcp, port 5061; WSS:
// A on the given port or 443, RFC 7118 names no SRV). `transport: auto`: the NAPTR
// records choose the transport (RFC 3263 4.1), UDP when there are none.
// Servers that time out or answer 503 are blacklisted for a while; candidates() lists the
// others first, in SRV order (priority, then higher weight first).
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "daemon/config_model.h"
#include "sipalg/flow.h"

namespace outpost::dns {
class UplinkResolver;
}

namespace outpost::sip {

struct ServerTarget {
  std::string name;  // the profile entry (or the SRV target) it came from: TLS's SNI and check
  Endpoint endpoint;
  Transport transport = Transport::udp;
  std::string path = "/";  // WSS: the URL's path
};

// RFC 3261 19.1.2 / RFC 7118: the port when neither the profile nor SRV gives one.
inline uint16_t default_port(Transport t) {
  return t == Transport::tls ? 5061 : t == Transport::wss ? 443 : 5060;
}

struct SrvRecord {
  uint16_t priority = 0, weight = 0, port = 0;
  std::string target;
};
std::optional<SrvRecord> parse_srv(const std::vector<uint8_t>& rdata);
void sort_srv(std::vector<SrvRecord>& records);

// RFC 3263 4.1 / RFC 3403: a NAPTR record of the server's domain.
struct NaptrRecord {
  uint16_t order = 0, preference = 0;
  std::string flags, service, regexp, replacement;
};
std::optional<NaptrRecord> parse_naptr(const std::vector<uint8_t>& rdata);
// The SRV name to look up for `t` ("SIP+D2U", "SIP+D2T", "SIPS+D2T"): the replacement of
// the first record (lowest order, then preference) with flag "s" and that service. The
// transport itself still comes from the profile: NAPTR records for other transports are
// ignored. nullopt: none (then _sip._udp/_sip._tcp.<domain>, RFC 3263 4.1's fallback).
std::optional<std::string> select_naptr(std::vector<NaptrRecord> records, Transport t);
// For a server whose profile says `transport: auto`: the first record (lowest order, then
// preference) with flag "s" for a transport outpost speaks (SIPS+D2T, SIP+D2T, SIP+D2U),
// with its SRV name. nullopt: none (then UDP).
std::optional<std::pair<Transport, std::string>> select_naptr_any(std::vector<NaptrRecord> records);

class ServerLocator {
 public:
  using Clock = std::chrono::steady_clock;

  ServerLocator(std::vector<config::SipServer> servers, std::shared_ptr<dns::UplinkResolver> resolver, Logger log,
                std::chrono::seconds blacklist_for);

  // Resolves every entry again; `done` runs once all answers (or failures) are in.
  void refresh(std::function<void()> done = {});
  void set_targets(std::vector<ServerTarget> targets) { targets_ = std::move(targets); }
  bool resolved() const { return !targets_.empty(); }

  std::vector<ServerTarget> candidates(Clock::time_point now) const;
  void blacklist(const Endpoint& server, Clock::time_point now);
  bool is_server(const IpAddress& a) const;
  // The located server at `a` (any port; the first match): what a new TLS or WSS
  // connection to it checks the certificate against. nullopt: not one of ours.
  std::optional<ServerTarget> server_at(const IpAddress& a) const;
  nlohmann::json status(Clock::time_point now) const;

 private:
  std::vector<config::SipServer> servers_;
  std::shared_ptr<dns::UplinkResolver> resolver_;
  Logger log_;
  std::chrono::seconds blacklist_for_;
  std::vector<ServerTarget> targets_;
  std::map<std::string, Clock::time_point> blacklisted_until_;  // endpoint text
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::string last_error_;
};

}  // namespace outpost::sip
