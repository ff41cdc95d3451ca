#include "sipalg/rewrite.h"

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_protos.h>
#include <sofia-sip/su_alloc.h>
#include <sofia-sip/url.h>

#include <strings.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "sipalg/sofia_text.h"

namespace outpost::sip {
namespace {

bool host_is_own(const char* host, const char* port, const Identity& me) {
  if (!host) return false;
  auto a = parse_address(host[0] == '[' ? std::string_view(host + 1, std::strlen(host) - 2) : std::string_view(host));
  if (!a) return false;
  unsigned p = port && *port ? static_cast<unsigned>(std::atoi(port)) : 5060;
  return me.is_own(*a, p);
}

bool replace_url(Message& m, url_t* target, msg_common_t* common, const std::string& uri) {
  url_t* u = url_make(m.home(), uri.c_str());
  if (!u) return false;
  *target = *u;
  clear_received_text(m.msg(), common);
  return true;
}

// Removes the parameter `name` (with or without value) from a ;-separated parameter text.
std::string drop_param(const std::string& value, const std::string& name) {
  std::string out;
  size_t i = 0;
  size_t first = value.find(';');
  if (first == std::string::npos) return value;
  out = value.substr(0, first);
  i = first;
  while (i < value.size()) {
    size_t next = value.find(';', i + 1);
    std::string param = value.substr(i + 1, next == std::string::npos ? std::string::npos : next - i - 1);
    std::string key = param.substr(0, param.find('='));
    if (strcasecmp(key.c_str(), name.c_str()) != 0) out += ";" + param;
    if (next == std::string::npos) break;
    i = next;
  }
  return out;
}

UriParts uri_parts(const url_t* u) {
  UriParts p;
  if (u && (u->url_type == url_sip || u->url_type == url_sips) && u->url_host) {
    p.valid = true;
    p.user = str(u->url_user);
    p.host = str(u->url_host);
    if (p.host.size() > 2 && p.host.front() == '[') p.host = p.host.substr(1, p.host.size() - 2);
    p.port = u->url_port ? static_cast<uint16_t>(std::atoi(u->url_port)) : 0;
    char buf[16] = {0};
    if (u->url_params && url_param(u->url_params, "transport", buf, sizeof buf) > 0) p.transport = buf;
    for (auto& c : p.transport) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return p;
}

}  // namespace

std::string via_value(Transport t, const std::string& host_port, const std::string& branch) {
  return std::string("SIP/2.0/") + via_token(t) + " " + host_port + ";branch=" + branch;
}

std::vector<std::string> take_vias(Message& m, const Flow& from) {
  std::vector<std::string> vias = m.via_values();
  sip_via_t* top = m.sip()->sip_via;
  if (!vias.empty() && top) {
    std::string& v = vias.front();
    std::string source;
    append_address(source, from.peer.address);
    bool differs = str(top->v_host) != source;
    if (differs || top->v_rport) {
      v = drop_param(drop_param(v, "received"), "rport");
      v += ";received=" + source;
      if (top->v_rport) v += ";rport=" + std::to_string(from.peer.port);
    }
  }
  m.remove_vias();
  return vias;
}

std::string with_vias(std::string_view serialized, std::span<const std::string> vias) {
  size_t eol = serialized.find("\r\n");
  if (eol == std::string_view::npos) return std::string(serialized);
  size_t size = serialized.size();
  for (const auto& v : vias) size += v.size() + 7;
  std::string out;
  out.reserve(size);
  out.append(serialized, 0, eol + 2);
  for (const auto& v : vias) out.append("Via: ").append(v).append("\r\n");
  out.append(serialized, eol + 2);
  return out;
}

bool has_own_via(const Message& m, const Identity& me) {
  for (sip_via_t* v = m.sip()->sip_via; v; v = v->v_next)
    if (v->v_branch && !std::strncmp(v->v_branch, kBranchPrefix, std::strlen(kBranchPrefix)) &&
        host_is_own(v->v_host, v->v_port, me))
      return true;
  return false;
}

UriParts uri_parts(const std::string& uri) {
  su_home_t home[1] = {SU_HOME_INIT(home)};
  UriParts p = uri_parts(url_make(home, uri.c_str()));
  su_home_deinit(home);
  return p;
}

UriParts request_uri_parts(const Message& m) {
  const sip_request_t* rq = m.sip()->sip_request;
  return uri_parts(rq ? rq->rq_url : nullptr);
}

UriParts next_hop_parts(const Message& m) {
  const sip_t* s = m.sip();
  return s->sip_route ? uri_parts(s->sip_route->r_url) : request_uri_parts(m);
}

bool is_own_uri(const std::string& uri, const Identity& me) {
  UriParts p = uri_parts(uri);
  if (!p.valid) return false;
  auto a = parse_address(p.host);
  if (!a) return false;
  unsigned port = p.port ? p.port : 5060;
  return me.is_own(*a, port);
}

bool is_own_request_uri(const Message& m, const Identity& me) {
  const sip_request_t* rq = m.sip()->sip_request;
  if (!rq) return false;
  const url_t* u = rq->rq_url;
  return (u->url_type == url_sip || u->url_type == url_sips) && host_is_own(u->url_host, u->url_port, me);
}

int pop_own_routes(Message& m, const Identity& me) {
  int popped = 0;
  sip_t* s = m.sip();
  while (s->sip_route && host_is_own(s->sip_route->r_url->url_host, s->sip_route->r_url->url_port, me)) {
    sip_header_remove(m.msg(), s, reinterpret_cast<sip_header_t*>(s->sip_route));
    ++popped;
  }
  return popped;
}

std::string record_route_value(Side side, Transport t, const Identity& me, uint16_t local_port) {
  return "<sip:" + me.host_port(side, t, local_port) + transport_param(t) + ";lr>";
}

void add_record_route(Message& m, Side side, Transport t, const Identity& me, uint16_t local_port) {
  m.add_header("Record-Route", record_route_value(side, t, me, local_port));
}

int swap_record_route(Message& m, Side from, Side to, Transport to_transport, const Identity& me,
                      uint16_t to_local_port) {
  int swapped = 0;
  for (sip_record_route_t* r = m.sip()->sip_record_route; r; r = r->r_next) {
    auto a = parse_address(str(r->r_url->url_host));
    unsigned port = r->r_url->url_port ? static_cast<unsigned>(std::atoi(r->r_url->url_port)) : 5060;
    if (!a || *a != me.address(from) || !me.is_own(*a, port)) continue;
    std::string uri = "sip:" + me.host_port(to, to_transport, to_local_port) + transport_param(to_transport) + ";lr";
    if (replace_url(m, r->r_url, r->r_common, uri)) ++swapped;
  }
  return swapped;
}

std::vector<std::string> foreign_record_routes(const Message& m, const Identity& me) {
  std::vector<std::string> out;
  for (sip_record_route_t* r = m.sip()->sip_record_route; r; r = r->r_next)
    if (!host_is_own(r->r_url->url_host, r->r_url->url_port, me))
      out.push_back(header_text(m.home(), reinterpret_cast<sip_header_t*>(r)));
  return out;
}

void set_list(Message& m, const char* name, const std::vector<std::string>& values) {
  m.remove_all(name);
  // One comma-separated value, parsed into one chain: sofia prepends some list headers
  // (Via, Record-Route) and appends others (Route), but keeps a chain's own order.
  std::string joined;
  for (const auto& v : values) joined += (joined.empty() ? "" : ", ") + v;
  if (!joined.empty()) m.add_header(name, joined);
}

std::string first_contact_uri(const Message& m) {
  sip_contact_t* c = m.sip()->sip_contact;
  if (!c || c->m_url->url_type == url_any) return {};
  return url_text(m.home(), c->m_url);
}

void set_contact(Message& m, const std::string& uri) {
  m.remove_all("Contact");
  m.add_header("Contact", "<" + uri + ">");
}

int set_contact_expires(Message& m, unsigned fallback, const std::function<unsigned(unsigned)>& f) {
  int changed = 0;
  sip_t* s = m.sip();
  unsigned header = s->sip_expires ? static_cast<unsigned>(s->sip_expires->ex_delta) : fallback;
  for (sip_contact_t* c = s->sip_contact; c; c = c->m_next) {
    if (c->m_url->url_type == url_any) continue;
    unsigned e = c->m_expires ? static_cast<unsigned>(std::strtoul(c->m_expires, nullptr, 10)) : header;
    if (e == 0) continue;
    unsigned next = f(e);
    if (next == e && c->m_expires) continue;
    std::string param = "expires=" + std::to_string(next);
    // Before the edit: sofia may clear the member's own text while changing it, and the
    // line's other members are found by where that text ends.
    clear_received_text(m.msg(), c->m_common);
    // sofia keeps the pointer: the text must live in the message's home.
    if (msg_header_replace_param(m.home(), c->m_common, su_strdup(m.home(), param.c_str())) < 0) continue;
    ++changed;
  }
  return changed;
}

int map_contacts(Message& m, const std::function<std::optional<std::string>(const std::string&)>& map) {
  int mapped = 0;
  for (sip_contact_t* c = m.sip()->sip_contact; c; c = c->m_next) {
    if (c->m_url->url_type == url_any) continue;
    auto next = map(url_text(m.home(), c->m_url));
    if (next && replace_url(m, c->m_url, c->m_common, *next)) ++mapped;
  }
  return mapped;
}

}  // namespace outpost::sip

namespace outpost::sip {
namespace {

bool ip_char(char c) { return (c >= '0' && c <= '9') || c == '.'; }
bool word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'; }

// The scan behind replace_lan_literals: how many LAN literals `text` holds; with `out`, the
// text with each one replaced is appended to it. hide_lan_hosts scans without `out` first:
// most From/To hold none, and nothing is copied for them.
int scan_lan_literals(std::string_view text, const std::function<bool(const IpAddress&)>& is_lan,
                      std::string_view replacement, std::string* out) {
  int found = 0;
  auto put = [out](std::string_view piece) {
    if (out) out->append(piece);
  };
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '[') {  // bracketed IPv6 (a URI host)
      size_t end = text.find(']', i);
      if (end != std::string_view::npos) {
        auto a = parse_address(text.substr(i + 1, end - i - 1));
        if (a && is_lan(*a)) {
          put(replacement);
          ++found;
          i = end + 1;
          continue;
        }
      }
    } else if (ip_char(c) && c != '.' && (i == 0 || (!word_char(text[i - 1]) && text[i - 1] != '.'))) {
      size_t end = i;
      while (end < text.size() && ip_char(text[end])) ++end;
      std::string_view token = text.substr(i, end - i);
      while (!token.empty() && token.back() == '.') token.remove_suffix(1);  // "10.0.0.1." at a sentence end
      const bool bounded = end >= text.size() || !word_char(text[end]);
      auto a = bounded && std::count(token.begin(), token.end(), '.') == 3 ? parse_address(token) : std::nullopt;
      if (a && is_lan(*a)) {
        put(replacement);
        ++found;
      } else {
        put(token);
      }
      i += token.size();
      continue;
    }
    if (out) out->push_back(c);
    ++i;
  }
  return found;
}

}  // namespace

std::string replace_lan_literals(std::string_view text, const std::function<bool(const IpAddress&)>& is_lan,
                                 const std::string& replacement, int* replaced) {
  std::string out;
  out.reserve(text.size());
  const int found = scan_lan_literals(text, is_lan, replacement, &out);
  if (replaced) *replaced += found;
  return out;
}

int hide_lan_hosts(Message& m, const std::function<bool(const IpAddress&)>& is_lan, const std::string& replacement) {
  int changed = 0;
  su_home_t* home = m.home();
  sip_t* s = m.sip();
  // Lengths first: a message has a dozen headers and most match no identity name's length.
  auto listed = [](const char* name) {
    if (!name) return false;
    const size_t length = std::strlen(name);
    for (std::string_view h : kIdentityHeaders)
      if (h.size() == length && strncasecmp(name, h.data(), length) == 0) return true;
    return false;
  };
  // Headers sofia parses (From, To, Call-Info, Reply-To, Referred-By, Alert-Info): rebuilt from
  // rewritten text and swapped in. The others (P-Asserted-Identity, Diversion, ...) are
  // "unknown" to sofia's default parser: their value text is replaced in place.
  std::vector<std::pair<msg_header_t*, msg_header_t*>> swaps;
  for (msg_header_t* h = *msg_chain_head(m.msg()); h; h = h->sh_succ) {
    msg_hclass_t* hc = h->sh_class;
    if (!hc || !hc->hc_name) continue;
    if (hc == sip_unknown_class) {
      auto* u = reinterpret_cast<sip_unknown_t*>(h);
      if (!listed(u->un_name) || !u->un_value || !scan_lan_literals(u->un_value, is_lan, replacement, nullptr))
        continue;
      u->un_value = su_strdup(home, replace_lan_literals(u->un_value, is_lan, replacement).c_str());
      clear_received_text(m.msg(), &u->un_common[0]);
      ++changed;
    } else if (listed(hc->hc_name)) {
      int n = 0;
      // A header still holding its received line is looked at in that text first: most
      // From/To carry no LAN literal, and printing them costs more than scanning. (A
      // comma-list member after the first holds no text of its own: printed as before.)
      if (h->sh_data && h->sh_len &&
          !scan_lan_literals({static_cast<const char*>(h->sh_data), h->sh_len}, is_lan, replacement, nullptr))
        continue;
      std::string v = replace_lan_literals(header_text(home, reinterpret_cast<sip_header_t*>(h)), is_lan, replacement, &n);
      if (!n) continue;
      if (msg_header_t* fresh = msg_header_make(home, hc, v.c_str())) swaps.emplace_back(h, fresh);
    }
  }
  for (auto [old, fresh] : swaps)
    if (msg_header_replace(m.msg(), reinterpret_cast<msg_pub_t*>(s), old, fresh) == 0) ++changed;
  return changed;
}

void set_from(Message& m, const std::string& value) {
  sip_t* s = m.sip();
  if (sip_from_t* f = sip_from_make(m.home(), value.c_str()); f && s->sip_from)
    msg_header_replace(m.msg(), reinterpret_cast<msg_pub_t*>(s), reinterpret_cast<msg_header_t*>(s->sip_from),
                       reinterpret_cast<msg_header_t*>(f));
}

void set_to_keep_tag(Message& m, const std::string& value) {
  sip_t* s = m.sip();
  if (!s->sip_to) return;
  std::string v = value;
  if (s->sip_to->a_tag && !std::strstr(value.c_str(), ";tag=")) v += std::string(";tag=") + s->sip_to->a_tag;
  if (sip_to_t* t = sip_to_make(m.home(), v.c_str()))
    msg_header_replace(m.msg(), reinterpret_cast<msg_pub_t*>(s), reinterpret_cast<msg_header_t*>(s->sip_to),
                       reinterpret_cast<msg_header_t*>(t));
}

}  // namespace outpost::sip
