#include "sipalg/dialogs.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "sipalg/rewrite.h"

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
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : call_id) h = (h ^ c) * 1099511628211ULL;
  h = (h ^ '|') * 1099511628211ULL;
  for (unsigned char c : vendor_tag) h = (h ^ c) * 1099511628211ULL;
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::optional<std::string> Dialogs::token_of(const std::string& uri, const Identity& me) {
  UriParts p = uri_parts(uri);
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

nlohmann::json call_record(const Dialog& d) {
  std::string disposition = d.answer ? "answered" : d.status == 487 ? "cancelled" : d.status ? "failed" : "unknown";
  return {{"call", d.token},
          {"start", d.start},
          {"answer", d.answer},
          {"end", d.end},
          {"duration_s", d.answer ? d.end - d.answer : 0},
          {"caller", d.from},
          {"callee", d.to},
          {"direction", d.caller == Side::lan ? "outbound" : "inbound"},
          {"status", d.status},
          {"disposition", disposition},
          {"device", d.device.to_string()},
          {"vendor_server", d.vendor.to_string()}};
}

namespace {

std::string iso_utc(int64_t t) {
  if (t <= 0) return "";
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// RFC 4180: quoted when it holds a comma, quote, CR or LF; quotes doubled. SIP URIs and
// display names can hold all of these.
std::string csv_field(const std::string& v) {
  if (v.find_first_of(",\"\r\n") == std::string::npos) return v;
  std::string out = "\"";
  for (char c : v) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string number(double v, int decimals) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

}  // namespace

std::string call_record_csv_header() {
  return "call,start,answer,end,duration_s,caller,callee,direction,status,disposition,device,vendor_server,"
         "streams,packets_to_vendor,packets_to_lan,lost_to_vendor,lost_to_lan,jitter_ms_max,mos_min\r\n";
}

std::string call_record_csv(const Dialog& d, const nlohmann::json& media) {
  nlohmann::json r = call_record(d);
  std::string line;
  auto add = [&line](const std::string& v) {
    if (!line.empty()) line += ',';
    line += csv_field(v);
  };
  add(r["call"].get<std::string>());
  add(iso_utc(d.start));
  add(iso_utc(d.answer));
  add(iso_utc(d.end));
  add(std::to_string(r["duration_s"].get<int64_t>()));
  add(d.from);
  add(d.to);
  add(r["direction"].get<std::string>());
  add(d.status ? std::to_string(d.status) : "");
  add(r["disposition"].get<std::string>());
  add(r["device"].get<std::string>());
  add(r["vendor_server"].get<std::string>());
  // Quality: sums over the call's streams, worst jitter and MOS (what a report sorts by).
  if (!media.is_array() || media.empty()) {
    for (int i = 0; i < 7; ++i) add("");
  } else {
    uint64_t pv = 0, pl = 0, lv = 0, ll = 0;
    double jitter = 0, mos = 5;
    bool any_mos = false;
    for (const auto& s : media) {
      auto dir = [&](const char* k) { return s.contains(k) ? s[k] : nlohmann::json::object(); };
      auto v = dir("to_vendor"), l = dir("to_lan");
      pv += v.value("packets", uint64_t{0});
      pl += l.value("packets", uint64_t{0});
      lv += v.value("lost", uint64_t{0});
      ll += l.value("lost", uint64_t{0});
      jitter = std::max({jitter, v.value("jitter_ms", 0.0), l.value("jitter_ms", 0.0)});
      for (const auto* x : {&v, &l})
        if (x->contains("mos") && (*x)["mos"].is_number()) {
          mos = std::min(mos, (*x)["mos"].get<double>());
          any_mos = true;
        }
    }
    add(std::to_string(media.size()));
    add(std::to_string(pv));
    add(std::to_string(pl));
    add(std::to_string(lv));
    add(std::to_string(ll));
    add(number(jitter, 2));
    add(any_mos ? number(mos, 2) : "");
  }
  return line + "\r\n";
}

}  // namespace outpost::sip
