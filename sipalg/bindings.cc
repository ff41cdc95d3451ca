#include "sipalg/bindings.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <unordered_set>

#include "sipalg/rewrite.h"

namespace outpost::sip {

namespace {
constexpr int64_t kDialogTokenLifetime = 24 * 3600;
}

std::string make_token(const std::string& device_contact, const Flow& flow) {
  // FNV-1a 64 over what identifies the device: stable across refreshes, so the vendor's
  // binding is refreshed rather than duplicated.
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&h](const std::string& s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL;
  };
  mix(device_contact);
  mix(flow.peer.to_string());
  mix(to_string(flow.transport));
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string Bindings::map_out(const std::string& device_contact, const Flow& flow, const Identity& me,
                              Transport uplink_transport, int64_t now) {
  std::string token = make_token(device_contact, flow);
  auto& t = targets_[token];
  t.contact = device_contact;
  t.flow = flow;
  t.last_used = now;
  std::string uri = "sip:" + std::string(kUserPrefix) + token + "@" + me.host_port(Side::uplink);
  if (uplink_transport == Transport::tcp) uri += ";transport=tcp";
  return uri;
}

std::optional<std::string> Bindings::token_of(const std::string& uri, const Identity& me) {
  UriParts p = uri_parts(uri);
  if (!p.valid || p.user.size() <= 2 || p.user.rfind(kUserPrefix, 0) != 0) return std::nullopt;
  auto a = parse_address(p.host);
  if (!a || *a != me.uplink) return std::nullopt;
  return p.user.substr(2);
}

const DeviceTarget* Bindings::lookup(const std::string& token) const {
  auto it = targets_.find(token);
  return it == targets_.end() ? nullptr : &it->second;
}

void Bindings::touch(const std::string& token, int64_t now) {
  if (auto it = targets_.find(token); it != targets_.end()) it->second.last_used = now;
}

void Bindings::registered(const std::string& aor, const std::string& token, unsigned expires_s, int64_t now) {
  if (expires_s == 0) return unregistered(aor, token);
  registrations_[{aor, token}] = Binding{aor, token, now + expires_s};
}

void Bindings::unregistered(const std::string& aor, const std::string& token) { registrations_.erase({aor, token}); }

bool Bindings::expire(int64_t now) {
  bool changed = false;
  for (auto it = registrations_.begin(); it != registrations_.end();) {
    if (it->second.expires_at <= now) it = registrations_.erase(it), changed = true;
    else ++it;
  }
  std::unordered_set<std::string> registered;
  for (const auto& [key, b] : registrations_) registered.insert(b.token);
  for (auto it = targets_.begin(); it != targets_.end();) {
    if (!registered.count(it->first) && it->second.last_used + kDialogTokenLifetime <= now) it = targets_.erase(it);
    else ++it;
  }
  return changed;
}

std::optional<int64_t> Bindings::expires_in(const std::string& aor, const std::string& token, int64_t now) const {
  auto it = registrations_.find({aor, token});
  if (it == registrations_.end() || it->second.expires_at <= now) return std::nullopt;
  return it->second.expires_at - now;
}

std::vector<Binding> Bindings::registrations() const {
  std::vector<Binding> out;
  for (const auto& [key, b] : registrations_) out.push_back(b);
  return out;
}

nlohmann::json Bindings::to_json(int64_t now) const {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& [key, b] : registrations_) {
    const DeviceTarget* t = lookup(b.token);
    rows.push_back({{"aor", b.aor},
                    {"contact", t ? t->contact : ""},
                    {"transport", t ? to_string(t->flow.transport) : ""},
                    {"source", t ? t->flow.peer.to_string() : ""},
                    {"expires_in", b.expires_at > now ? b.expires_at - now : 0},
                    {"vendor_contact_user", std::string(kUserPrefix) + b.token}});
  }
  return rows;
}

std::string Bindings::serialize() const {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& [key, b] : registrations_) {
    const DeviceTarget* t = lookup(b.token);
    if (!t) continue;
    rows.push_back({{"aor", b.aor},
                    {"token", b.token},
                    {"expires_at", b.expires_at},
                    {"contact", t->contact},
                    {"transport", to_string(t->flow.transport)},
                    {"source", t->flow.peer.to_string()}});
  }
  return nlohmann::json{{"version", 1}, {"registrations", rows}}.dump(1) + "\n";
}

Result<void> Bindings::parse(const std::string& text, int64_t now) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("registrations") || !j["registrations"].is_array())
    return make_error("not a registrations file");
  std::unordered_map<std::string, DeviceTarget> targets;
  std::map<std::pair<std::string, std::string>, Binding> regs;
  for (const auto& r : j["registrations"]) {
    if (!r.is_object() || !r.contains("aor") || !r.contains("token") || !r.contains("expires_at") ||
        !r.contains("contact") || !r.contains("transport") || !r.contains("source"))
      return make_error("registration entry with missing fields");
    try {
      int64_t expires_at = r["expires_at"].get<int64_t>();
      if (expires_at <= now) continue;
      auto source = parse_endpoint(r["source"].get<std::string>());
      if (!source) return make_error("bad source address in registrations file");
      DeviceTarget t;
      t.contact = r["contact"].get<std::string>();
      const std::string transport = r["transport"].get<std::string>();
      t.flow = Flow{Side::lan, transport == "tcp"   ? Transport::tcp
                                    : transport == "tls" ? Transport::tls
                                    : transport == "wss" ? Transport::wss
                                                         : Transport::udp,
                    *source, 0};
      t.last_used = now;
      std::string token = r["token"].get<std::string>();
      targets[token] = t;
      std::string aor = r["aor"].get<std::string>();
      regs[{aor, token}] = Binding{aor, token, expires_at};
    } catch (const nlohmann::json::exception& e) {
      return make_error(std::string("registrations file: ") + e.what());
    }
  }
  targets_ = std::move(targets);
  registrations_ = std::move(regs);
  return {};
}

Result<void> Bindings::save(const std::string& path) const {
  // Write a temporary file, fsync it and rename over the old one: a crash leaves either
  // the old table or the new one, never half of one.
  std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) return make_error("cannot write " + tmp);
  std::string text = serialize();
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size() && std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) return make_error("cannot write " + path);
  return {};
}

Result<void> Bindings::load(const std::string& path, int64_t now) {
  std::ifstream in(path);
  if (!in) return {};  // nothing saved yet
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), now);
}

}  // namespace outpost::sip
