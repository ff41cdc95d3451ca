#pragma once
// Every counter of the TLS passthrough, declared once (metrics outpost_tls_* and `show tls`
// use the same names), and the per-name table `show tls` lists.
#include <cstdint>
#include <map>
#include <string>

#include "common/metrics.h"
#include "dataplane/decision.h"

namespace outpost::dataplane {

#define OUTPOST_TLS_STATS(X)                                                         \
  X(accepted, "connections accepted on the HTTPS and HTTP ports")                    \
  X(passed_through, "connections relayed to a vendor host")                          \
  X(wss_handed_over, "connections handed to the SIP WebSocket transport")           \
  X(turn_forwarded, "non-TLS connections on the HTTPS port sent to vendor.turn")     \
  X(redirected, "HTTP requests redirected to https (tls.http_policy: redirect)")     \
  X(refused, "connections refused, all reasons (outpost_tls_refused_*)")             \
  X(connect_retries, "upstream addresses that failed before another was tried")      \
  X(relays_closed, "relays that ended with both sides closing")                      \
  X(relays_reset, "relays that ended with a reset from either side")                 \
  X(relays_idle, "relays closed by tls.idle_timeout")                                \
  X(bytes_to_vendor, "bytes relayed from LAN clients to vendor hosts")               \
  X(bytes_to_client, "bytes relayed from vendor hosts to LAN clients")

OUTPOST_DEFINE_STATS(TlsStats, "outpost_tls_", OUTPOST_TLS_STATS);
OUTPOST_DEFINE_STATS(TlsRefusalStats, "outpost_tls_refused_", OUTPOST_TLS_REFUSALS);

Counter& refusal_counter(TlsRefusalStats& stats, Refusal r);

// Connections and bytes per vendor name, for `show tls`. Bounded: names beyond the cap
// are summed under "(other)" so a client cycling through *.vendor.example names cannot
// grow it without limit.
class NameTable {
 public:
  struct Entry {
    uint64_t connections = 0;
    uint64_t active = 0;
    uint64_t bytes_to_vendor = 0;
    uint64_t bytes_to_client = 0;
    uint64_t failed = 0;  // resolve or connect failures
  };
  static constexpr size_t kMaxNames = 512;
  // Stable while the table lives (std::map nodes do not move).
  Entry& entry(const std::string& name);
  nlohmann::json to_json() const;

 private:
  std::map<std::string, Entry> entries_;
};

}  // namespace outpost::dataplane
