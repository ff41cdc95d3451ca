#include "dataplane/decision.h"

namespace outpost::dataplane {
namespace {

Decision refuse(Refusal r) { return {Action::reset, "", "", r}; }

// A name the client asked for, or the default host when it asked for none.
Decision route_name(const RoutingPolicy& policy, const std::optional<std::string>& asked, Refusal none,
                    Refusal not_vendor, Action action) {
  if (!asked) {
    if (policy.default_host.empty()) return refuse(none);
    return {action, policy.default_host, "default_host", std::nullopt};
  }
  auto name = normalize_host_name(*asked);
  if (!name) return refuse(not_vendor == Refusal::non_vendor_sni ? Refusal::invalid_sni : not_vendor);
  auto pattern = policy.vendor_names.match(*name);
  if (!pattern) return refuse(not_vendor);
  return {action, *name, *pattern, std::nullopt};
}

}  // namespace

Result<RoutingPolicy> RoutingPolicy::from_config(const config::Config& config) {
  RoutingPolicy p;
  for (const auto& f : config.vendor.fqdns)
    if (auto r = p.vendor_names.add(f); !r) return make_error("vendor.fqdns: " + r.error().message);
  if (!config.vendor.default_host.empty()) {
    auto h = normalize_host_name(config.vendor.default_host);
    if (!h) return make_error("vendor.default_host: not a host name");
    p.default_host = *h;
  }
  if (!config.vendor.wss_fqdn.empty()) {
    auto h = normalize_host_name(config.vendor.wss_fqdn);
    if (!h) return make_error("vendor.wss_fqdn: not a host name");
    p.wss_fqdn = *h;
  }
  p.turn = config.vendor.turn;
  p.http_redirect = config.tls.http_policy == "redirect";
  p.client_subnets = config.lan.client_subnets;
  return p;
}

Decision decide_tls(const RoutingPolicy& policy, const ClientHello& hello, bool wss_handler_registered) {
  switch (hello.status) {
    case HelloStatus::not_tls:
      if (policy.turn) return {Action::turn, "", "vendor.turn", std::nullopt};
      return refuse(Refusal::not_tls);
    case HelloStatus::malformed: return refuse(Refusal::malformed_hello);
    case HelloStatus::too_large: return refuse(Refusal::hello_too_large);
    case HelloStatus::need_more: return refuse(Refusal::closed_early);
    case HelloStatus::ok: break;
  }
  Decision d = route_name(policy, hello.sni, Refusal::no_sni, Refusal::non_vendor_sni, Action::passthrough);
  // The SIP WebSocket name is terminated by outpost when a transport is registered;
  // until then it is passed through like any vendor name.
  if (d.action == Action::passthrough && !policy.wss_fqdn.empty() && d.host == policy.wss_fqdn &&
      wss_handler_registered)
    d.action = Action::wss_handoff;
  return d;
}

Decision decide_http(const RoutingPolicy& policy, const HttpHead& head) {
  switch (head.status) {
    case HttpHeadStatus::malformed: return refuse(Refusal::malformed_http);
    case HttpHeadStatus::too_large: return refuse(Refusal::malformed_http);
    case HttpHeadStatus::need_more: return refuse(Refusal::closed_early);
    case HttpHeadStatus::ok: break;
  }
  return route_name(policy, head.host, Refusal::no_host, Refusal::non_vendor_host,
                    policy.http_redirect ? Action::redirect : Action::passthrough);
}

const char* to_string(Refusal r) {
  switch (r) {
#define OUTPOST_TLS_NAME_(name, help) \
  case Refusal::name: return #name;
    OUTPOST_TLS_REFUSALS(OUTPOST_TLS_NAME_)
#undef OUTPOST_TLS_NAME_
  }
  return "?";
}

const char* to_string(Action a) {
  switch (a) {
    case Action::passthrough: return "passthrough";
    case Action::wss_handoff: return "wss_handoff";
    case Action::turn: return "turn";
    case Action::redirect: return "redirect";
    case Action::reset: return "reset";
  }
  return "?";
}

}  // namespace outpost::dataplane
