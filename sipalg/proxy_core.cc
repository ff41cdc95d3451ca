#include "sipalg/proxy_core.h"

#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <random>

#include "sipalg/rewrite.h"
#include "sipalg/token_text.h"

namespace outpost::sip {

namespace asio = boost::asio;
using namespace std::chrono_literals;

struct ProxyCore::Transaction {
  explicit Transaction(asio::io_context& io) : retransmit(io), timeout(io) {}
  std::string out_branch, in_key, method;
  bool invite = false;
  Flow inbound;
  std::vector<std::string> inbound_vias;
  Flow outbound;
  bool via_locator = false;
  std::vector<ServerTarget> candidates;
  size_t next_candidate = 1;
  std::string no_via;  // the forwarded request without outpost's Via
  std::string inbound_call_id;
  uint32_t cseq = 0;
  std::vector<std::string> routes;
  bool got_response = false, provisional = false, cancel_pending = false, cancelled = false, lingering = false;
  int final_status = 0;
  std::string last_to_inbound;
  std::chrono::milliseconds interval{500};
  asio::steady_timer retransmit, timeout;  // lingering is ProxyCore::lingering_'s
  std::string aor;
  std::vector<std::string> tokens;
  bool initial = false;                    // a dialog-creating request (no To tag)
  std::string dialog_token;                // the dialog of an in-dialog request (or a vendor's initial one)
  std::vector<std::string> dialog_tokens;  // dialogs (forks) this initial request created
  std::vector<std::string> vendor_rr;      // a vendor's initial request: its Record-Route entries
  std::string lan_from, lan_to;            // a device's From/To as it sent them, when LAN hosts were hidden
};

namespace {

// Every request sent (and every UDP retransmission) carries outpost's one Via.
std::string with_via(const std::string& no_via, const std::string& via) { return with_vias(no_via, {&via, 1}); }

// What a CANCEL, a hop-by-hop ACK or a 408 copies from the request as it was sent: read back
// from the sent bytes when one is needed (a few transactions in a hundred), not copied out of
// every request (~7 k instructions per call).
struct SentRequest {
  std::string ruri, from, to, call_id;
  std::vector<std::string> routes;
};

std::optional<SentRequest> sent_request(const std::string& no_via) {
  auto parsed = Message::parse(with_via(no_via, "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKsent"));  // the parser wants a Via
  auto* m = std::get_if<Message>(&parsed);
  if (!m) return std::nullopt;
  return SentRequest{m->request_uri(), m->from_value(), m->to_value(), m->call_id(), m->header_values("Route")};
}

// The key of an incoming transaction: its branch, method and source. The source goes in as
// raw address bytes and port (a map key, never printed): no text formatting per message.
std::string inbound_key(const Message& m, std::string_view method, const Endpoint& source) {
  const sip_via_t* v = m.sip()->sip_via;
  std::string_view branch = v && v->v_branch ? std::string_view(v->v_branch) : std::string_view();
  std::string key;
  key.reserve(branch.size() + method.size() + 2 + 16 + 2);
  key.append(branch).append(1, '|').append(method).append(1, '|');
  if (source.address.is_v4()) {
    auto b = source.address.to_v4().to_bytes();
    key.append(reinterpret_cast<const char*>(b.data()), b.size());
  } else {
    auto b = source.address.to_v6().to_bytes();
    key.append(reinterpret_cast<const char*>(b.data()), b.size());
  }
  key.append(1, static_cast<char>(source.port >> 8)).append(1, static_cast<char>(source.port & 0xff));
  return key;
}

bool creates_dialog(const std::string& method) {
  return method == "INVITE" || method == "SUBSCRIBE" || method == "REFER";
}

bool scanner(std::string_view ua) {
  // Case-insensitive substring search, without lowering copies: this runs for every LAN message.
  static constexpr std::string_view kNames[] = {"friendly-scanner", "sipvicious", "sipcli", "sip-scan",
                                                "sundayddr",        "iWar",       "sipsak"};
  auto lower = [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); };
  for (std::string_view n : kNames) {
    if (n.size() > ua.size()) continue;
    for (size_t i = 0; i + n.size() <= ua.size(); ++i) {
      size_t k = 0;
      while (k < n.size() && lower(ua[i + k]) == lower(n[k])) ++k;
      if (k == n.size()) return true;
    }
  }
  return false;
}

// A From/To value without its ;tag= parameter.
std::string without_tag(const std::string& value) {
  size_t tag = value.find(";tag=");
  if (tag == std::string::npos) return value;
  size_t end = value.find(';', tag + 1);
  return value.substr(0, tag) + (end == std::string::npos ? "" : value.substr(end));
}

}  // namespace

ProxyCore::ProxyCore(asio::io_context& io, Logger log, SipCounters& counters, Sender& sender, ServerLocator& locator,
                     Bindings& bindings, SdpRewriter& sdp, CoreSettings settings)
    : io_(io),
      log_(log),
      noisy_(log),
      counters_(counters),
      sender_(sender),
      locator_(locator),
      bindings_(bindings),
      sdp_(sdp),
      settings_(std::move(settings)),
      linger_timer_(io) {
  limiter_.configure(settings_.rate_per_second, settings_.rate_burst);
  std::random_device rd;
  branch_salt_ = (uint64_t(rd()) << 32) ^ rd();
}

ProxyCore::~ProxyCore() {
  for (auto& [k, t] : by_out_) t->retransmit.cancel(), t->timeout.cancel();
  linger_timer_.cancel();
}

int64_t ProxyCore::wall_now() const { return static_cast<int64_t>(std::time(nullptr)); }

std::string ProxyCore::new_branch() {
  std::string branch = kBranchPrefix;
  append_hex(branch, branch_salt_ & 0xffffffffULL, 8);
  branch += '.';
  append_decimal(branch, ++branch_counter_);
  return branch;
}

bool ProxyCore::is_vendor(const IpAddress& a) const {
  return std::any_of(settings_.vendor_prefixes.begin(), settings_.vendor_prefixes.end(),
                     [&](const Prefix& p) { return p.contains(a); }) ||
         locator_.is_server(a);
}

bool ProxyCore::trusted(const Flow& from) const {
  if (from.side == Side::uplink) return is_vendor(from.peer.address);
  return std::any_of(settings_.client_subnets.begin(), settings_.client_subnets.end(),
                     [&](const Prefix& p) { return p.contains(from.peer.address); });
}

void ProxyCore::on_message(const Flow& from, std::string_view bytes) {
  counters_.stats.received.inc();
  // receive -> trust -> parse -> decide -> act; counting as we leave each step.
  if (!trusted(from)) return counters_.drop(Drop::source_not_allowed);
  if (from.side == Side::lan && !limiter_.admit(from.peer.address, Clock::now())) return counters_.drop(Drop::rate_limited);
  auto parsed = Message::parse(bytes);
  if (auto* e = std::get_if<ParseError>(&parsed)) {
    counters_.drop(Drop::malformed);
    noisy_.info("malformed message from ", from.to_string(), ": ", e->reason);
    if (e->answerable && sender_.send(from, e->bad_request)) counters_.stats.local_responses.inc();
    return;
  }
  Message& m = std::get<Message>(parsed);
  if (from.side == Side::lan && scanner(m.user_agent())) return counters_.drop(Drop::scanner);
  if (m.is_request()) handle_request(from, m);
  else handle_response(from, m);
}

void ProxyCore::reply(const Flow& to, const Message& request, int status, const char* reason, const std::string& extra) {
  std::string tag = "op";
  append_hex(tag, branch_salt_ ^ ++branch_counter_);
  std::string text = make_response(request, status, reason, tag);
  if (!extra.empty()) text.insert(text.rfind("Content-Length:"), extra);
  if (sender_.send(to, text)) counters_.stats.local_responses.inc();
  else counters_.drop(Drop::send_failed);
}

ProxyCore::Target ProxyCore::uplink_target(const Message& m, bool in_dialog) {
  Target t;
  if (settings_.me.uplink.is_unspecified()) {
    // Started before the uplink had an address (see SipComponent::start): the LAN keeps
    // its answers (OPTIONS, local REGISTER refreshes), vendor-bound requests get a 503.
    t.why = Drop::no_uplink;
    return t;
  }
  bool has_route = m.sip()->sip_route != nullptr;
  if (has_route || in_dialog) {
    UriParts p = next_hop_parts(m);
    if (p.valid) {
      if (auto a = parse_address(p.host)) {
        if (!is_vendor(*a) || settings_.me.is_own(*a, p.port ? p.port : 5060)) {  // is_own_uri, parsed once
          t.why = Drop::forbidden_target;
          return t;
        }
        t.ok = true;
        // RFC 7118 §5: "ws" in a URI names WS and WSS alike; outpost speaks only WSS.
        Transport tr = p.transport == "tcp"                      ? Transport::tcp
                       : p.transport == "tls"                    ? Transport::tls
                       : p.transport == "ws" || p.transport == "wss" ? Transport::wss
                                                                 : Transport::udp;
        t.flow = Flow{Side::uplink, tr, Endpoint{*a, p.port ? p.port : default_port(tr)}, 0};
        return t;
      }
    }
  }
  auto candidates = locator_.candidates(Clock::now());
  if (candidates.empty()) return t;  // no_route: nothing located yet
  t.ok = true;
  t.via_locator = true;
  t.flow = Flow{Side::uplink, candidates.front().transport, candidates.front().endpoint, 0};
  return t;
}

ProxyCore::Target ProxyCore::lan_target(Message& m) {
  Target t;
  auto token = Bindings::token_of(request_uri_parts(m), settings_.me);
  const DeviceTarget* device = token ? bindings_.lookup(*token) : nullptr;
  if (!device) return t;
  bindings_.touch(*token, wall_now());
  t.ok = true;
  t.flow = device->flow;
  if (t.flow.transport == Transport::tcp) {
    // A lost connection is re-opened to the contact's own address, not its old source port.
    // (TLS devices are reached over their own connection only: outpost is no TLS client.)
    UriParts p = uri_parts(device->contact);
    if (auto a = p.valid ? parse_address(p.host) : std::nullopt) t.flow.peer = Endpoint{*a, p.port ? p.port : uint16_t(5060)};
  }
  m.set_request_uri(device->contact);
  return t;
}

void ProxyCore::handle_request(const Flow& from, Message& m) {
  const std::string method = m.method();
  counters_.request(method);
  const auto rq = m.sip()->sip_request->rq_method;
  if (rq == sip_method_ack) {
    if (auto it = by_in_.find(inbound_key(m, "INVITE", from.peer)); it != by_in_.end() && it->second->final_status >= 300) {
      counters_.stats.retransmissions_absorbed.inc();  // ACK for a non-2xx: hop by hop, ours already went
      return;
    }
  } else if (rq == sip_method_cancel) {
    auto it = by_in_.find(inbound_key(m, "INVITE", from.peer));
    if (it == by_in_.end()) return reply(from, m, 481, "Call/Transaction Does Not Exist");
    reply(from, m, 200, "OK");
    auto t = it->second;
    if (!t->final_status && !t->cancelled) {
      if (t->provisional) send_cancel(t);
      else t->cancel_pending = true;  // RFC 3261 9.1: CANCEL only after a provisional response
    }
    return;
  } else if (auto it = by_in_.find(inbound_key(m, method, from.peer)); it != by_in_.end()) {
    counters_.stats.retransmissions_absorbed.inc();
    if (!it->second->last_to_inbound.empty()) sender_.send(from, it->second->last_to_inbound);
    return;
  }

  auto mf = m.max_forwards();
  if (mf && *mf == 0) {
    counters_.drop(Drop::too_many_hops);
    if (rq != sip_method_ack) reply(from, m, 483, "Too Many Hops");
    return;
  }
  if (has_own_via(m, settings_.me)) {
    counters_.drop(Drop::loop);
    if (rq != sip_method_ack) reply(from, m, 482, "Loop Detected");
    return;
  }
  pop_own_routes(m, settings_.me);
  if (from.side == Side::lan && !map_dialog_request(from, m)) {
    counters_.drop(Drop::no_route);
    if (rq != sip_method_ack) reply(from, m, 481, "Call/Transaction Does Not Exist");
    return;
  }
  const bool in_dialog = !m.to_tag().empty();
  if (!m.sip()->sip_route && is_own_request_uri(m, settings_.me) && !m.sip()->sip_request->rq_url->url_user) {
    // Addressed to outpost itself (either side): OPTIONS is a keep-alive/health probe.
    if (rq == sip_method_options) return reply(from, m, 200, "OK");
    if (rq != sip_method_ack) reply(from, m, 405, "Method Not Allowed");
    return;
  }
  if (from.side == Side::lan && rq == sip_method_register && answer_register_locally(from, m)) return;
  Target target = from.side == Side::lan ? uplink_target(m, in_dialog) : lan_target(m);
  if (!target.ok) {
    counters_.drop(target.why);
    if (rq == sip_method_ack) return;
    if (target.why == Drop::forbidden_target) return reply(from, m, 403, "Forbidden");
    if (from.side == Side::lan) return reply(from, m, 503, "No Vendor Server");
    return reply(from, m, 404, "Not Found");
  }
  m.set_max_forwards(mf ? *mf - 1 : 70);
  if (rq == sip_method_ack) return forward_stateless(from, m, target.flow);
  if (rq == sip_method_invite) reply(from, m, 100, "Trying");
  start_transaction(from, m, target);
}

void ProxyCore::map_device_contacts(Message& m, const Flow& device, std::vector<std::string>* tokens) {
  // Contacts that already are outpost's (a device echoing them) stay; the rest get a token.
  const int64_t now = wall_now();
  map_contacts(m, [&](const std::string& uri) -> std::optional<std::string> {
    if (Bindings::token_of(uri, settings_.me)) return std::nullopt;
    std::string token = make_token(uri, device);  // hashed once, for the binding and the transaction
    std::string mapped = bindings_.map_out_token(token, uri, device, settings_.me, Transport::udp, now);
    if (tokens) tokens->push_back(std::move(token));
    return mapped;
  });
}

int ProxyCore::hide_lan_identities(Message& m, const Flow& device) {
  if (settings_.me.uplink.is_unspecified()) return 0;
  if (uplink_host_.empty() || uplink_host_of_ != settings_.me.uplink) {  // formatted once per uplink address
    const std::string ours = Endpoint{settings_.me.uplink, 0}.to_string();
    uplink_host_ = ours.substr(0, ours.rfind(':'));  // "[v6]" keeps its brackets
    uplink_host_of_ = settings_.me.uplink;
  }
  const std::string& host = uplink_host_;
  auto is_lan = [&](const IpAddress& a) {
    return a == device.peer.address || a == settings_.me.lan ||
           std::any_of(settings_.client_subnets.begin(), settings_.client_subnets.end(),
                       [&](const Prefix& p) { return p.contains(a); });
  };
  int n = hide_lan_hosts(m, is_lan, host);
  if (n) counters_.stats.lan_hosts_hidden.inc(n);
  return n;
}

void ProxyCore::rewrite_sdp(Message& m, Side from) {
  sip_t* s = m.sip();
  if (!m.has_body() || !s->sip_content_type || !s->sip_content_type->c_type ||
      strcasecmp(s->sip_content_type->c_type, "application/sdp") != 0)
    return;
  counters_.stats.sdp_bodies.inc();
  // Called before hide_call_id: the media layer always gets the Call-ID the vendor sees.
  std::string key = from == Side::lan ? call_ids_.translate(m.call_id_view(), from, wall_now()) : m.call_id();
  SdpContext ctx{from, key, m.method(), m.status()};
  if (auto body = sdp_.rewrite(ctx, m.body())) m.replace_body("application/sdp", *body);
}

void ProxyCore::hide_call_id(Message& m, Side from) {
  m.set_call_id(call_ids_.translate(m.call_id_view(), from, wall_now()));
}

void ProxyCore::forward_stateless(const Flow& from, Message& m, const Flow& to) {
  take_vias(m, from);
  if (from.side == Side::lan) {
    map_device_contacts(m, from, nullptr);
    hide_lan_identities(m, from);
  } else {
    hide_vendor_hops(m, from, to, false, nullptr);
  }
  rewrite_sdp(m, from.side);
  hide_call_id(m, from.side);
  std::string bytes = with_via(m.serialize(), via_value(to.transport, settings_.me.host_port(to), new_branch()));
  if (sender_.send(to, bytes)) counters_.stats.forwarded_requests.inc();
  else counters_.drop(Drop::send_failed);
}

void ProxyCore::start_transaction(const Flow& from, Message& m, const Target& to) {
  auto t = std::make_shared<Transaction>(io_);
  t->method = m.method();
  t->invite = t->method == "INVITE";
  t->in_key = inbound_key(m, t->method, from.peer);
  t->inbound = from;
  t->inbound_vias = take_vias(m, from);
  t->inbound_call_id = m.call_id();
  t->initial = m.to_tag().empty() && creates_dialog(t->method);
  t->dialog_token = dialog_token(m, from.side);
  const Side out = to.flow.side;
  if (from.side == Side::lan) {
    map_device_contacts(m, from, t->method == "REGISTER" ? &t->tokens : nullptr);
    if (t->method != "REGISTER") {  // a REGISTER's To is the AOR the vendor binds: as the device wrote it
      std::string from_value = m.from_value(), to_value = m.to_value();
      if (hide_lan_identities(m, from)) t->lan_from = from_value, t->lan_to = to_value;
    }
    if (t->method == "REGISTER") t->aor = m.to_uri();
    if (t->method == "REGISTER" && settings_.vendor_expiry_s)
      set_contact_expires(m, 3600, [this](unsigned e) { return std::max(e, settings_.vendor_expiry_s); });
  } else {
    hide_vendor_hops(m, from, to.flow, t->initial, t.get());
  }
  if (t->initial) add_record_route(m, out, to.flow.transport, settings_.me, to.flow.local_port);
  rewrite_sdp(m, from.side);
  hide_call_id(m, from.side);
  t->no_via = m.serialize();
  t->cseq = m.cseq();
  t->outbound = to.flow;
  t->via_locator = to.via_locator;
  if (t->via_locator) t->candidates = locator_.candidates(Clock::now());
  t->out_branch = new_branch();
  by_in_[t->in_key] = t;
  by_out_[t->out_branch] = t;
  counters_.stats.transactions_created.inc();
  send_out(t);
  arm_timers(t);
}

void ProxyCore::send_out(const std::shared_ptr<Transaction>& t) {
  std::string via = via_value(t->outbound.transport, settings_.me.host_port(t->outbound), t->out_branch);
  if (sender_.send(t->outbound, with_via(t->no_via, via))) counters_.stats.forwarded_requests.inc();
  else counters_.drop(Drop::send_failed);
}

void ProxyCore::arm_timers(const std::shared_ptr<Transaction>& t) {
  std::weak_ptr<Transaction> weak = t;
  if (t->outbound.transport == Transport::udp) {
    t->interval = settings_.t1;
    t->retransmit.expires_after(t->interval);
    t->retransmit.async_wait([this, weak](boost::system::error_code ec) {
      if (auto t = weak.lock(); !ec && t) on_retransmit_timer(t);
    });
  }
  t->timeout.expires_after(t->via_locator ? settings_.server_timeout : 64 * settings_.t1);
  t->timeout.async_wait([this, weak](boost::system::error_code ec) {
    if (auto t = weak.lock(); !ec && t) on_timeout(t);
  });
}

void ProxyCore::on_retransmit_timer(const std::shared_ptr<Transaction>& t) {
  if (t->final_status || (t->invite && t->provisional)) return;
  send_out(t);
  counters_.stats.retransmissions_sent.inc();
  t->interval = t->invite ? 2 * t->interval : std::min(2 * t->interval, settings_.t2);
  std::weak_ptr<Transaction> weak = t;
  t->retransmit.expires_after(t->interval);
  t->retransmit.async_wait([this, weak](boost::system::error_code ec) {
    if (auto t = weak.lock(); !ec && t) on_retransmit_timer(t);
  });
}

bool ProxyCore::try_next_server(const std::shared_ptr<Transaction>& t) {
  locator_.blacklist(t->outbound.peer, Clock::now());
  if (t->next_candidate >= t->candidates.size()) return false;
  const auto& next = t->candidates[t->next_candidate++];
  by_out_.erase(t->out_branch);
  t->out_branch = new_branch();
  by_out_[t->out_branch] = t;
  t->outbound = Flow{Side::uplink, next.transport, next.endpoint, 0};
  t->got_response = t->provisional = false;
  counters_.stats.failovers.inc();
  log_.notice(t->method, " ", t->inbound_call_id, ": trying vendor server ", next.endpoint.to_string());
  t->retransmit.cancel();
  t->timeout.cancel();
  send_out(t);
  arm_timers(t);
  return true;
}

void ProxyCore::on_unreachable(const Flow& to) {
  std::vector<std::shared_ptr<Transaction>> waiting;
  for (const auto& [branch, t] : by_out_)
    if (!t->final_status && !t->got_response && t->outbound.side == to.side && t->outbound.transport == to.transport &&
        t->outbound.peer.address == to.peer.address && t->outbound.peer.port == to.peer.port)
      waiting.push_back(t);
  for (const auto& t : waiting) {
    t->timeout.cancel();
    on_timeout(t);
  }
}

void ProxyCore::on_timeout(const std::shared_ptr<Transaction>& t) {
  if (t->final_status) return;
  if (!t->got_response && t->via_locator && try_next_server(t)) return;
  if (t->invite && t->provisional) send_cancel(t);
  t->final_status = 408;
  t->retransmit.cancel();
  // The 408 goes to the original sender with its own Vias.
  std::string resp = "SIP/2.0 408 Request Timeout\r\n";
  for (const auto& v : t->inbound_vias) resp += "Via: " + v + "\r\n";
  std::optional<SentRequest> sent = sent_request(t->no_via);
  if (!sent) return finish(t, 5s);  // not reached: these bytes parsed when they were forwarded
  // The device's own From/To when outpost hid LAN hosts in them; else as forwarded.
  const std::string& from = t->lan_from.empty() ? sent->from : t->lan_from;
  const std::string& to = t->lan_to.empty() ? sent->to : t->lan_to;
  resp += "From: " + from + "\r\nTo: " + to + (to.find(";tag=") == std::string::npos ? ";tag=op408" : "") +
          "\r\nCall-ID: " + t->inbound_call_id + "\r\nCSeq: " + std::to_string(t->cseq) + " " + t->method +
          "\r\nServer: outpost\r\nContent-Length: 0\r\n\r\n";
  t->last_to_inbound = resp;
  if (t->method != "ACK" && sender_.send(t->inbound, resp)) counters_.stats.local_responses.inc();
  finish(t, 5s);
}

void ProxyCore::finish(const std::shared_ptr<Transaction>& t, std::chrono::milliseconds linger) {
  t->lingering = true;
  t->retransmit.cancel();
  t->timeout.cancel();
  const Clock::time_point due = Clock::now() + linger;
  lingering_.push(Lingering{due, t});
  if (!linger_armed_ || due + kLingerSlack < linger_due_) arm_linger(due + kLingerSlack);
}

// One timer for every lingering transaction (thousands at a few hundred calls per second,
// INVITEs answered 2xx linger 64*T1): it fires for the earliest, a little late so that one
// wake-up forgets the transactions due together.
void ProxyCore::arm_linger(Clock::time_point at) {
  linger_armed_ = true;
  linger_due_ = at;
  linger_timer_.expires_at(at);
  linger_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;  // cancelled or re-armed
    linger_armed_ = false;
    forget_lingering();
  });
}

void ProxyCore::forget_lingering() {
  const Clock::time_point now = Clock::now();
  while (!lingering_.empty() && lingering_.top().due <= now) {
    std::shared_ptr<Transaction> t = lingering_.top().transaction.lock();
    lingering_.pop();
    if (!t) continue;
    if (auto it = by_out_.find(t->out_branch); it != by_out_.end() && it->second == t) by_out_.erase(it);
    if (auto it = by_in_.find(t->in_key); it != by_in_.end() && it->second == t) by_in_.erase(it);
  }
  if (!lingering_.empty()) arm_linger(lingering_.top().due + kLingerSlack);
}

void ProxyCore::send_cancel(const std::shared_ptr<Transaction>& t) {
  t->cancelled = true;
  t->cancel_pending = false;
  std::optional<SentRequest> sent = sent_request(t->no_via);
  if (!sent) return;  // not reached: these bytes parsed when they were forwarded
  std::string req = "CANCEL " + sent->ruri + " SIP/2.0\r\nVia: " +
                    via_value(t->outbound.transport, settings_.me.host_port(t->outbound), t->out_branch) +
                    "\r\nMax-Forwards: 70\r\nFrom: " + sent->from + "\r\nTo: " + sent->to +
                    "\r\nCall-ID: " + sent->call_id + "\r\nCSeq: " + std::to_string(t->cseq) + " CANCEL\r\n";
  for (const auto& r : sent->routes) req += "Route: " + r + "\r\n";
  req += "Content-Length: 0\r\n\r\n";
  if (sender_.send(t->outbound, req)) counters_.stats.forwarded_requests.inc();
}

void ProxyCore::send_ack(const std::shared_ptr<Transaction>& t, const Message& response) {
  std::optional<SentRequest> sent = sent_request(t->no_via);
  if (!sent) return;  // not reached: these bytes parsed when they were forwarded
  std::string req = "ACK " + sent->ruri + " SIP/2.0\r\nVia: " +
                    via_value(t->outbound.transport, settings_.me.host_port(t->outbound), t->out_branch) +
                    "\r\nMax-Forwards: 70\r\nFrom: " + sent->from + "\r\nTo: " + response.to_value() +
                    "\r\nCall-ID: " + sent->call_id + "\r\nCSeq: " + std::to_string(t->cseq) + " ACK\r\n";
  for (const auto& r : sent->routes) req += "Route: " + r + "\r\n";
  req += "Content-Length: 0\r\n\r\n";
  sender_.send(t->outbound, req);
}

void ProxyCore::update_registrations(const std::shared_ptr<Transaction>& t, Message& response) {
  const int64_t now = wall_now();
  std::vector<std::string> seen;
  for (const auto& [uri, expires] : response.contact_expiries(3600)) {
    auto token = Bindings::token_of(uri, settings_.me);
    if (!token || std::find(t->tokens.begin(), t->tokens.end(), *token) == t->tokens.end()) continue;
    bindings_.registered(t->aor, *token, expires, now);
    seen.push_back(*token);
  }
  for (const auto& token : t->tokens)
    if (std::find(seen.begin(), seen.end(), token) == seen.end()) bindings_.unregistered(t->aor, token);
  if (on_bindings_changed) on_bindings_changed();
}

void ProxyCore::handle_response(const Flow& from, Message& m) {
  const int status = m.status();
  counters_.response(status);
  if (keepalive_ && keepalive_->on_response(from, m, wall_now())) return;
  auto it = by_out_.find(m.top_branch());
  if (it == by_out_.end() || it->second->outbound.side != from.side) return counters_.drop(Drop::stray_response);
  auto t = it->second;
  const std::string cseq_method = m.method();
  if (cseq_method == "CANCEL" && t->invite) return;  // the answer to our own CANCEL
  if (cseq_method != t->method) return counters_.drop(Drop::stray_response);
  const bool first = !t->got_response;
  t->got_response = true;
  std::weak_ptr<Transaction> weak = t;
  if (status < 200) {
    t->provisional = true;
    if (t->invite) t->retransmit.cancel();
    if (first) {
      t->timeout.cancel();
      t->timeout.expires_after(t->invite ? std::chrono::milliseconds(180s) : 64 * settings_.t1);
      t->timeout.async_wait([this, weak](boost::system::error_code ec) {
        if (auto t = weak.lock(); !ec && t) on_timeout(t);
      });
    }
    if (t->cancel_pending) send_cancel(t);
    if (status == 100) return;  // hop by hop: the device got outpost's own 100
  } else if (t->final_status) {
    // A retransmitted final: 2xx to INVITE goes on end to end, a non-2xx gets our ACK again.
    if (!(t->invite && status < 300 && t->final_status < 300)) {
      if (t->invite && status >= 300) send_ack(t, m);
      return;
    }
  } else {
    if (t->via_locator && status == 503 && try_next_server(t)) return;
    t->final_status = status;
    if (t->invite && status >= 300) send_ack(t, m);
    if (t->invite && status < 300) counters_.stats.calls_answered.inc();
    if (t->method == "REGISTER" && status < 300 && from.side == Side::uplink) {
      counters_.stats.registrations_relayed.inc();
      update_registrations(t, m);
    }
  }
  // The dialog this final answer belongs to (read before the Call-ID is translated).
  const std::string answered = !t->initial || status < 200 ? std::string()
                               : from.side == Side::uplink ? dialog_token(m, Side::uplink)
                                                           : t->dialog_token;
  // Rewrite for the side the request came from.
  m.remove_vias();  // outpost's own; the request's are put back as text when it is sent
  if (from.side == Side::uplink) {
    const bool creating = t->initial && status > 100 && status < 300 && !m.to_tag().empty();
    hide_vendor_hops(m, from, t->inbound, creating, t.get());
  } else if (t->initial && status > 100 && status < 300 && m.sip()->sip_record_route) {
    // A device answers the vendor's dialog-creating request: the vendor gets its own route
    // set back behind outpost's uplink entry (the device only ever saw outpost's LAN entry).
    std::vector<std::string> rr{record_route_value(Side::uplink, t->inbound.transport, settings_.me)};
    rr.insert(rr.end(), t->vendor_rr.begin(), t->vendor_rr.end());
    set_list(m, "Record-Route", rr);
  }
  swap_record_route(m, t->outbound.side, t->inbound.side, t->inbound.transport, settings_.me, t->inbound.local_port);
  if (from.side == Side::lan) {
    map_device_contacts(m, from, nullptr);
    hide_lan_identities(m, from);
  } else if (t->method == "REGISTER") {
    map_contacts(m, [this](const std::string& uri) -> std::optional<std::string> {
      auto token = Bindings::token_of(uri, settings_.me);
      const DeviceTarget* d = token ? bindings_.lookup(*token) : nullptr;
      return d ? std::optional<std::string>(d->contact) : std::nullopt;
    });
    if (status < 300 && settings_.device_expiry_s)
      set_contact_expires(m, 3600, [this](unsigned e) { return std::min(e, settings_.device_expiry_s); });
  }
  if (!t->lan_from.empty()) {
    // RFC 3261 8.2.6.2: the device gets its own From/To back (with the far end's To tag).
    set_from(m, t->lan_from);
    set_to_keep_tag(m, t->lan_to);
  }
  rewrite_sdp(m, from.side);
  hide_call_id(m, from.side);
  std::string bytes = with_vias(m.serialize(), t->inbound_vias);
  if (sender_.send(t->inbound, bytes)) counters_.stats.forwarded_responses.inc();
  else counters_.drop(Drop::send_failed);
  t->last_to_inbound = bytes;
  if (status >= 200 && !t->lingering) track_dialog(t, status, answered);
  if (status >= 200 && !t->lingering)
    finish(t, t->invite && status < 300 ? std::chrono::milliseconds(64 * settings_.t1) : std::chrono::milliseconds(5s));
}

bool ProxyCore::answer_register_locally(const Flow& from, const Message& m) {
  const unsigned device = settings_.device_expiry_s;
  if (!device) return false;
  for (sip_contact_t* c = m.sip()->sip_contact; c; c = c->m_next)
    if (c->m_url->url_type == url_any) return false;  // Contact: * (unregister all): the vendor's business
  auto contacts = m.contact_expiries(3600);
  if (contacts.empty()) return false;  // a fetch of the bindings: relayed
  const int64_t now = wall_now();
  const std::string aor = m.to_uri();
  std::vector<std::string> tokens;
  for (const auto& [uri, expires] : contacts) {
    if (expires == 0 || Bindings::token_of(uri, settings_.me)) return false;
    std::string token = make_token(uri, from);
    auto left = bindings_.expires_in(aor, token, now);
    // Relayed when the vendor's binding would not outlive the device's next refresh by a
    // whole device period: the vendor is refreshed before it lapses, with the device's credentials.
    if (!left || *left <= 2 * int64_t(device)) return false;
    tokens.push_back(token);
  }
  std::string contact_lines;
  for (const auto& b : bindings_.registrations()) {
    const DeviceTarget* d = b.aor == aor ? bindings_.lookup(b.token) : nullptr;
    if (!d) continue;
    int64_t left = std::min<int64_t>(device, b.expires_at - now);
    if (left > 0) contact_lines += "Contact: <" + d->contact + ">;expires=" + std::to_string(left) + "\r\n";
  }
  for (const auto& token : tokens) bindings_.touch(token, now);
  counters_.stats.registrations_absorbed.inc();
  reply(from, m, 200, "OK", contact_lines);
  return true;
}

std::string ProxyCore::dialog_token(const Message& m, Side from) {
  const bool request = m.is_request();
  std::string tag = from == Side::uplink ? (request ? m.from_tag() : m.to_tag()) : (request ? m.to_tag() : m.from_tag());
  if (tag.empty()) return {};
  std::string call_id = from == Side::uplink ? m.call_id() : call_ids_.translate(m.call_id_view(), Side::lan, wall_now());
  return Dialogs::token(call_id, tag);
}

void ProxyCore::hide_vendor_hops(Message& m, const Flow& vendor, const Flow& device, bool creating, Transaction* t) {
  std::string token = dialog_token(m, Side::uplink);
  if (token.empty()) return;
  const int64_t now = wall_now();
  Dialog* d = dialogs_.find(token);
  std::vector<std::string> rr = foreign_record_routes(m, settings_.me);
  if (creating) {
    if (!d) {
      d = &dialogs_.upsert(token);
      d->method = m.method();
      d->call_id = m.call_id();
      d->caller = m.is_request() ? Side::uplink : Side::lan;
      d->from = m.from_uri();
      d->to = m.to_uri();
      d->lan_transport = device.transport;
      d->device = device;
      d->vendor = vendor.peer;
      d->start = now;
      counters_.stats.dialogs_created.inc();
    }
    // UAS side (the vendor's request): its Record-Route in order; UAC side (the vendor's
    // response): reversed (RFC 3261 12.1.1 / 12.1.2). outpost's own entry is never in it.
    d->route_set = rr;
    if (!m.is_request()) std::reverse(d->route_set.begin(), d->route_set.end());
    if (!m.is_request() && t && !t->lan_from.empty()) d->device_identity = without_tag(t->lan_from);
    if (t) {
      if (m.is_request()) t->vendor_rr = rr;
      if (std::find(t->dialog_tokens.begin(), t->dialog_tokens.end(), token) == t->dialog_tokens.end())
        t->dialog_tokens.push_back(token);
    }
  }
  if (!d) return;  // not a dialog outpost knows (e.g. from before a restart): as it is
  d->last_used = now;
  if (m.is_request() && !creating && !d->device_identity.empty()) set_to_keep_tag(m, d->device_identity);
  if (std::string target = first_contact_uri(m); !target.empty()) {
    d->remote_target = target;  // a target refresh (RFC 3261 12.2.1.2) moves it
    set_contact(m, Dialogs::contact_uri(token, d->lan_transport, settings_.me, d->device.local_port));
  }
  if (m.sip()->sip_record_route) {
    if (creating && !m.is_request())
      set_list(m, "Record-Route", {record_route_value(Side::lan, device.transport, settings_.me, device.local_port)});
    else
      m.remove_all("Record-Route");  // a creating request gets outpost's LAN entry next
    counters_.stats.hops_hidden.inc();
  }
}

bool ProxyCore::map_dialog_request(const Flow& from, Message& m) {
  auto token = Dialogs::token_of(request_uri_parts(m), settings_.me);
  if (!token) return true;  // not addressed to a hidden party
  Dialog* d = dialogs_.find(*token);
  if (!d || d->remote_target.empty()) return false;
  d->last_used = wall_now();
  d->device = from;  // the device may have moved to another connection
  m.set_request_uri(d->remote_target);
  set_list(m, "Route", d->route_set);
  return true;
}

void ProxyCore::track_dialog(const std::shared_ptr<Transaction>& t, int status, const std::string& answered) {
  const int64_t now = wall_now();
  if (t->initial) {
    for (const auto& token : t->dialog_tokens) {
      Dialog* d = dialogs_.find(token);
      if (!d) continue;
      if (status < 300 && token != answered) {
        if (d->state == Dialog::State::early) dialogs_.remove(token);  // a fork that did not answer
      } else if (status < 300) {
        if (!d->status) d->status = status;
        if (d->state == Dialog::State::early) d->state = Dialog::State::confirmed, d->answer = now;
      } else if (d->state == Dialog::State::early) {
        d->status = status;
        dialogs_.ended(*d, now);
      }
    }
    return;
  }
  if (t->method == "BYE" && !t->dialog_token.empty())
    if (Dialog* d = dialogs_.find(t->dialog_token)) dialogs_.ended(*d, now);
}

nlohmann::json ProxyCore::status() const {
  size_t invites = 0;
  for (const auto& [k, t] : by_out_) invites += t->invite && !t->final_status;
  return {{"transactions", by_out_.size()}, {"invites_pending", invites}, {"dialogs", dialogs_.size()}};
}

}  // namespace outpost::sip
