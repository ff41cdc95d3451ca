#pragma once
// What to do with a connection once its first bytes are parsed: pass it through to a
// vendor host, hand it to the WebSocket transport, send it to the TURN target, redirect
// it to https, or reset it (and why). Pure: no sockets, no clocks.
#include <optional>
#include <string>

#include "common/name_match.h"
#include "common/net.h"
#include "common/result.h"
#include "dataplane/client_hello.h"
#include "dataplane/http_head.h"
#include "daemon/config_model.h"

namespace outpost::dataplane {

// The reasons a connection is refused, each a counter (outpost_tls_refused_<reason>_total)
// and a key of `show tls` errors.
#define OUTPOST_TLS_REFUSALS(X)                                                    \
  X(non_vendor_sni, "TLS connections whose SNI is not a vendor name")              \
  X(invalid_sni, "TLS connections whose SNI is not a valid host name")             \
  X(no_sni, "TLS connections without SNI and no vendor.default_host")              \
  X(not_tls, "connections to the HTTPS port not starting with TLS, no TURN target") \
  X(malformed_hello, "ClientHellos that broke the TLS format")                    \
  X(hello_too_large, "ClientHellos larger than 16 KB")                             \
  X(hello_timeout, "connections that did not complete their first bytes in time")  \
  X(closed_early, "clients that closed before their first bytes were complete")   \
  X(non_vendor_host, "HTTP requests whose Host is not a vendor name")              \
  X(no_host, "HTTP requests without Host and no vendor.default_host")              \
  X(malformed_http, "HTTP requests that broke the format")                         \
  X(max_connections, "connections refused at tls.max_connections")                \
  X(rate_limited, "connections refused by tls.per_client_rate")                    \
  X(not_client, "connections from outside lan.client_subnets")                     \
  X(resolve_failed, "vendor names the uplink resolver could not resolve")          \
  X(upstream_loop, "vendor names that resolved to outpost's own LAN address")      \
  X(connect_failed, "connections whose vendor host could not be reached")

enum class Refusal {
#define OUTPOST_TLS_ENUM_(name, help) name,
  OUTPOST_TLS_REFUSALS(OUTPOST_TLS_ENUM_)
#undef OUTPOST_TLS_ENUM_
};
const char* to_string(Refusal r);

// The profile's names and targets, built once per config.
struct RoutingPolicy {
  NamePatternSet vendor_names;
  std::string default_host;         // normalized, "" = none
  std::string wss_fqdn;             // normalized, "" = none
  std::optional<Endpoint> turn;
  bool http_redirect = false;       // tls.http_policy: redirect
  std::vector<Prefix> client_subnets;  // empty = everyone

  static Result<RoutingPolicy> from_config(const config::Config& config);
};

enum class Action { passthrough, wss_handoff, turn, redirect, reset };

struct Decision {
  Action action = Action::reset;
  std::string host;                 // passthrough / redirect / wss: the vendor name
  std::string pattern;              // which vendor pattern matched ("default_host" for a default)
  std::optional<Refusal> refusal;   // set when action == reset
};

// Port 443: from the parsed ClientHello (status need_more is not a valid input).
Decision decide_tls(const RoutingPolicy& policy, const ClientHello& hello, bool wss_handler_registered);
// Port 80: from the parsed request head.
Decision decide_http(const RoutingPolicy& policy, const HttpHead& head);

const char* to_string(Action a);

}  // namespace outpost::dataplane
