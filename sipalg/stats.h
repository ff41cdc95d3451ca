#pragma once
// count: every SIP counter has one name, used by the metrics (outpost_sip_*) and by
// `show sip`. Drops are one labelled family, outpost_sip_dropped_total{reason=...}; requests
// by method and responses by class likewise.
#include <array>
#include <map>
#include <string>

#include "common/metrics.h"

namespace outpost::sip {

#define OUTPOST_SIP_STATS(X)                                                                        \
  X(received, "SIP messages received (both sides)")                                                 \
  X(forwarded_requests, "Requests relayed to the other side")                                       \
  X(forwarded_responses, "Responses relayed to the other side")                                     \
  X(local_responses, "Responses outpost generated itself (100, 400, 408, 481, 482, 483, 503, ...)") \
  X(retransmissions_absorbed, "Request retransmissions answered from transaction state")            \
  X(retransmissions_sent, "Requests outpost retransmitted over UDP (RFC 3261 timers A/E)")         \
  X(failovers, "Requests moved to the next vendor server after a timeout or 503")                    \
  X(transactions_created, "Proxy transactions created")                                             \
  X(registrations_relayed, "REGISTER transactions that got a 2xx from the vendor")                  \
  X(registrations_absorbed, "Device REGISTER refreshes answered from the binding (throttling)")      \
  X(calls_answered, "INVITEs that got a 2xx")                                                       \
  X(sdp_bodies, "SDP bodies passed through the SDP rewriter")                                       \
  X(dialogs_created, "Dialogs outpost keeps a vendor route set and target for")                        \
  X(call_records, "Call records written")                                                           \
  X(call_records_lost, "Call records that could not be written")                                    \
  X(hops_hidden, "Messages whose vendor Record-Route entries were hidden from a device")                \
  X(keepalives_sent, "OPTIONS keep-alive pings sent to registered UDP devices")                      \
  X(keepalives_answered, "Keep-alive pings a device answered (any final status)")                    \
  X(keepalives_failed, "Keep-alive pings left unanswered until the next round")                      \
  X(lan_hosts_hidden, "LAN addresses replaced in From/To/P-Asserted-Identity and the like")

OUTPOST_DEFINE_STATS(SipStats, "outpost_sip_", OUTPOST_SIP_STATS);

// Why a message was not relayed. Every drop has a reason; each is a metric label.
enum class Drop {
  malformed,           // unparsable or missing mandatory headers (a 400 when answerable)
  oversize,            // larger than sip.max_message_bytes
  bad_framing,         // TCP stream without a usable Content-Length
  source_not_allowed,  // LAN source outside client_subnets, uplink source outside vendor prefixes
  scanner,             // known scanner User-Agent: no answer at all
  rate_limited,        // a LAN source over sip.rate_limit
  stray_response,      // a response that matches no transaction
  no_route,            // nowhere to send it (unknown device, no vendor server)
  forbidden_target,    // a LAN device routed a request to a non-vendor address
  loop,                // our own Via came back (482)
  too_many_hops,       // Max-Forwards reached 0 (483)
  send_failed,         // the socket refused it
  tls_handshake,       // a TLS connection whose handshake failed
  no_uplink,           // vendor-bound while outpost has no uplink address yet (503)
  ws_handshake,        // a WSS connection whose HTTP upgrade failed or did not offer "sip"
  handshake_timeout,   // an accepted TLS/WSS connection that did not finish its handshake in time
  idle_timeout,        // a LAN connection that carried no byte either way for sip.tcp_idle_timeout
  connection_limit,    // an accepted LAN connection over sip.max_connections(_per_source)
  count_
};

inline constexpr std::array<const char*, static_cast<size_t>(Drop::count_)> kDropNames = {
    "malformed", "oversize",  "bad_framing",   "source_not_allowed", "scanner",    "rate_limited", "stray_response",
    "no_route",  "forbidden_target", "loop", "too_many_hops", "send_failed", "tls_handshake",
    "no_uplink", "ws_handshake", "handshake_timeout", "idle_timeout", "connection_limit"};

class SipCounters {
 public:
  explicit SipCounters(MetricsRegistry& registry);
  SipStats stats;
  void drop(Drop reason) { drops_[static_cast<size_t>(reason)]->inc(); }
  void drop(const char* reason);
  void request(const std::string& method);
  void response(int status);
  nlohmann::json to_json() const;

 private:
  MetricsRegistry& registry_;
  std::array<Counter*, static_cast<size_t>(Drop::count_)> drops_{};
  std::map<std::string, Counter*> methods_;
  std::array<Counter*, 6> classes_{};
};

}  // namespace outpost::sip
