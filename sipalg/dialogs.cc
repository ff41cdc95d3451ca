#include "sipalg/dialogs.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "common/time_text.h"
#include "sipalg/rewrite.h"
#include "sipalg/token_text.h"

namespace outpost::sip {

const char* to_string(Dialog::State s) {
  switch (s) {
    case Dialog::State::early: return "early";
    case Dialog::State::confirmed: return "confirmed";
    case Dialog::State::ended: return "ended";
  }
  return "?";
}

std::string Dialogs::token(const std::string& call_id, const std::string& vendor_tag) {
  std::string token;
  append_hex(token, fnv1a(vendor_tag, fnv1a_byte(fnv1a(call_id), '|')), 16);
  return token;
}

std::optional<std::string> Dialogs::token_of(const std::string& uri, const Identity& me) {
  // Most Request-URIs are not outpost's od<token> contacts: without "od" (or a %-escape that
  // could decode to it) there is nothing to parse.
  if (uri.find("od") == std::string::npos && uri.find('%') == std::string::npos) return std::nullopt;
  return token_of(uri_parts(uri), me);
}

std::optional<std::string> Dialogs::token_of(const UriParts& p, const Identity& me) {
  if (!p.valid || p.user.size() <= 2 || p.user.rfind("od", 0) != 0) return std::nullopt;
  auto a = parse_address(p.host);
  if (!a || *a != me.lan) return std::nullopt;
  return p.user.substr(2);
}

std::string Dialogs::contact_uri(const std::string& token, Transport lan_transport, const Identity& me,
                                 uint16_t local_port) {
  return "sip:od" + token + "@" + me.host_port(Side::lan, lan_transport, local_port) + transport_param(lan_transport);
}

Dialog* Dialogs::find(const std::string& token) {
  auto it = dialogs_.find(token);
  return it == dialogs_.end() ? nullptr : &it->second;
}

const Dialog* Dialogs::find(const std::string& token) const {
  auto it = dialogs_.find(token);
  return it == dialogs_.end() ? nullptr : &it->second;
}

Dialog& Dialogs::upsert(const std::string& token) {
  Dialog& d = dialogs_[token];
  d.token = token;
  return d;
}

void Dialogs::ended(Dialog& d, int64_t now) {
  if (d.state == Dialog::State::ended) return;
  d.state = Dialog::State::ended;
  d.end = now;
  d.last_used = now;
  if (on_ended && d.method == "INVITE") on_ended(d);
}

void Dialogs::expire(int64_t now, int64_t linger, int64_t idle) {
  for (auto it = dialogs_.begin(); it != dialogs_.end();) {
    const Dialog& d = it->second;
    bool gone = (d.state == Dialog::State::ended && now - d.end >= linger) || now - d.last_used >= idle;
    it = gone ? dialogs_.erase(it) : std::next(it);
  }
}

nlohmann::json Dialogs::to_json(int64_t now) const {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& [token, d] : dialogs_) {
    rows.push_back({{"dialog", token},
                    {"call_id", d.call_id},
                    {"method", d.method},
                    {"state", to_string(d.state)},
                    {"from", d.from},
                    {"to", d.to},
                    {"caller_side", to_string(d.caller)},
                    {"device", d.device.to_string()},
                    {"vendor", d.vendor.to_string()},
                    {"start", d.start},
                    {"duration_s", d.answer ? (d.end ? d.end : now) - d.answer : 0}});
  }
  return rows;
}

namespace {

const char* disposition(const Dialog& d) {
  return d.answer ? "answered" : d.status == 487 ? "cancelled" : d.status ? "failed" : "unknown";
}
const char* direction(const Dialog& d) { return d.caller == Side::lan ? "outbound" : "inbound"; }
int64_t duration_s(const Dialog& d) { return d.answer ? d.end - d.answer : 0; }

}  // namespace

nlohmann::json call_record(const Dialog& d) {
  return {{"call", d.token},
          {"start", d.start},
          {"answer", d.answer},
          {"end", d.end},
          {"duration_s", duration_s(d)},
          {"caller", d.from},
          {"callee", d.to},
          {"direction", direction(d)},
          {"status", d.status},
          {"disposition", disposition(d)},
          {"device", d.device.to_string()},
          {"vendor_server", d.vendor.to_string()}};
}

namespace {

// RFC 4180: quoted when it holds a comma, quote, CR or LF; quotes doubled. SIP URIs and
// display names can hold all of these.
void append_csv_field(std::string& out, std::string_view v) {
  if (!contains_any(v, ",\"\r\n")) {
    out.append(v);
    return;
  }
  out += '"';
  for (char c : v) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

void append_fixed(std::string& out, double v, int decimals) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, decimals);
  if (r.ec == std::errc()) out.append(buf, r.ptr);
}

}  // namespace

std::string call_record_csv_header() {
  return "call,start,answer,end,duration_s,caller,callee,direction,status,disposition,device,vendor_server,"
         "streams,packets_to_vendor,packets_to_lan,lost_to_vendor,lost_to_lan,jitter_ms_max,mos_min\r\n";
}

// The CSV line is built by appending to one string (one line per ended call: no JSON in
// between, no temporaries per field).
std::string call_record_csv(const Dialog& d, const media::CallMediaTotals& media) {
  std::string line;
  line.reserve(256 + d.from.size() + d.to.size());
  append_csv_field(line, d.token);
  line += ',';
  append_iso_utc(line, d.start);
  line += ',';
  append_iso_utc(line, d.answer);
  line += ',';
  append_iso_utc(line, d.end);
  line += ',';
  append_decimal(line, duration_s(d));
  line += ',';
  append_csv_field(line, d.from);
  line += ',';
  append_csv_field(line, d.to);
  line += ',';
  line += direction(d);
  line += ',';
  if (d.status) append_decimal(line, d.status);
  line += ',';
  line += disposition(d);
  line += ',';
  append_csv_field(line, d.device.to_string());
  line += ',';
  append_csv_field(line, d.vendor.to_string());
  // Quality: sums over the call's streams, worst jitter and MOS (what a report sorts by).
  if (media.streams == 0) {
    line += ",,,,,,,";
  } else {
    for (uint64_t n : {uint64_t(media.streams), media.packets_to_vendor, media.packets_to_lan, media.lost_to_vendor,
                       media.lost_to_lan}) {
      line += ',';
      append_decimal(line, n);
    }
    line += ',';
    append_fixed(line, media.jitter_ms_max, 2);
    line += ',';
    if (media.mos_min) append_fixed(line, *media.mos_min, 2);
  }
  line += "\r\n";
  return line;
}

}  // namespace outpost::sip
