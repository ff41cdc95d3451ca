#include "sipalg/bindings.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string_view>
#include <unordered_set>

#include "sipalg/rewrite.h"
#include "sipalg/token_text.h"

namespace outpost::sip {

namespace {
constexpr int64_t kDialogTokenLifetime = 24 * 3600;
// First line of a journal; the version 1 file was one JSON document (still read).
constexpr std::string_view kJournalHeader = "{\"version\":2}";
// A journal is compacted when it holds more lines than twice the table (and this many).
constexpr size_t kMinJournalLines = 1024;

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') out += '\\', out += char(c);
    else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else out += char(c);
  }
  out += '"';
}

void append_removal(std::string& out, const std::string& aor, const std::string& token) {
  out += "{\"aor\":";
  append_json_string(out, aor);
  out += ",\"token\":";
  append_json_string(out, token);
  out += ",\"removed\":true}\n";
}
}  // namespace

std::string make_token(const std::string& device_contact, const Flow& flow) {
  // FNV-1a 64 over what identifies the device: stable across refreshes, so the vendor's
  // binding is refreshed rather than duplicated.
  uint64_t h = kFnvOffset;
  auto mix = [&h](std::string_view s) { h = fnv1a_byte(fnv1a(s, h), 0xff); };
  mix(device_contact);
  mix(flow.peer.to_string());  // no inet_ntop sprintf for IPv4 (common/net.cc)
  mix(to_string(flow.transport));
  std::string token;
  append_hex(token, h, 16);
  return token;
}

std::string Bindings::map_out(const std::string& device_contact, const Flow& flow, const Identity& me,
                              Transport uplink_transport, int64_t now) {
  return map_out_token(make_token(device_contact, flow), device_contact, flow, me, uplink_transport, now);
}

std::string Bindings::map_out_token(const std::string& token, const std::string& device_contact, const Flow& flow,
                                    const Identity& me, Transport uplink_transport, int64_t now) {
  auto& t = targets_[token];
  t.contact = device_contact;
  t.flow = flow;
  t.last_used = now;
  std::string uri = "sip:" + std::string(kUserPrefix) + token + "@" + me.host_port(Side::uplink);
  if (uplink_transport == Transport::tcp) uri += ";transport=tcp";
  return uri;
}

std::optional<std::string> Bindings::token_of(const std::string& uri, const Identity& me) {
  // Most URIs asked about are devices' own contacts: a text with no "op" (and no %-escape
  // that could decode to one) cannot hold an op<token> user, so it is not parsed at all.
  if (uri.find(kUserPrefix) == std::string::npos && uri.find('%') == std::string::npos) return std::nullopt;
  return token_of(uri_parts(uri), me);
}

std::optional<std::string> Bindings::token_of(const UriParts& p, const Identity& me) {
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
  changed_.emplace(aor, token);
}

void Bindings::unregistered(const std::string& aor, const std::string& token) {
  if (registrations_.erase({aor, token})) changed_.emplace(aor, token);
}

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
                    {"local_port", t && t->flow.local_port ? nlohmann::json(t->flow.local_port) : nlohmann::json(nullptr)},
                    {"expires_in", b.expires_at > now ? b.expires_at - now : 0},
                    {"vendor_contact_user", std::string(kUserPrefix) + b.token}});
  }
  return rows;
}

void Bindings::append_line(std::string& out, const Binding& b) const {
  // Written by hand rather than through a JSON DOM: this runs for every changed binding.
  const DeviceTarget* t = lookup(b.token);
  if (!t) return;
  out += "{\"aor\":";
  append_json_string(out, b.aor);
  out += ",\"token\":";
  append_json_string(out, b.token);
  out += ",\"expires_at\":";
  out += std::to_string(b.expires_at);
  out += ",\"contact\":";
  append_json_string(out, t->contact);
  out += ",\"transport\":\"";
  out += to_string(t->flow.transport);
  out += "\",\"source\":\"";
  out += t->flow.peer.to_string();
  out += '"';
  if (t->flow.local_port) {  // an extra LAN port (AETA 5070): the vendor's calls leave from it
    out += ",\"local_port\":";
    out += std::to_string(t->flow.local_port);
  }
  out += "}\n";
}

std::string Bindings::serialize() const {
  std::string out;
  out.reserve(64 + registrations_.size() * 192);
  out += kJournalHeader;
  out += '\n';
  for (const auto& [key, b] : registrations_) append_line(out, b);
  return out;
}

namespace {
Transport transport_named(const std::string& name) {
  return name == "tcp" ? Transport::tcp : name == "tls" ? Transport::tls : name == "wss" ? Transport::wss : Transport::udp;
}
}  // namespace

Result<void> Bindings::parse(const std::string& text, int64_t now) {
  std::unordered_map<std::string, DeviceTarget> targets;
  std::map<std::pair<std::string, std::string>, Binding> regs;
  int64_t lines = -1;  // a version 1 file is rewritten as a journal at the next save
  // One registration row (version 1 array entry or journal line) into regs/targets.
  auto apply = [&](const nlohmann::json& r) -> Result<void> {
    if (!r.is_object() || !r.contains("aor") || !r.contains("token")) return make_error("registration entry with missing fields");
    try {
      std::string aor = r["aor"].get<std::string>();
      std::string token = r["token"].get<std::string>();
      if (r.contains("removed")) {
        regs.erase({aor, token});
        return {};
      }
      if (!r.contains("expires_at") || !r.contains("contact") || !r.contains("transport") || !r.contains("source"))
        return make_error("registration entry with missing fields");
      auto source = parse_endpoint(r["source"].get<std::string>());
      if (!source) return make_error("bad source address in registrations file");
      DeviceTarget t;
      t.contact = r["contact"].get<std::string>();
      t.flow = Flow{Side::lan, transport_named(r["transport"].get<std::string>()), *source, 0};
      if (auto lp = r.find("local_port"); lp != r.end()) {
        const auto port = lp->get<int64_t>();
        if (port < 1 || port > 65535) return make_error("bad local_port in registrations file");
        t.flow.local_port = uint16_t(port);
      }
      t.last_used = now;
      targets[token] = t;
      regs[{aor, token}] = Binding{aor, token, r["expires_at"].get<int64_t>()};
    } catch (const nlohmann::json::exception& e) {
      return make_error(std::string("registrations file: ") + e.what());
    }
    return {};
  };
  if (text.rfind(kJournalHeader, 0) == 0) {
    lines = 0;
    size_t pos = text.find('\n');
    while (pos != std::string::npos && pos + 1 < text.size()) {
      size_t start = pos + 1;
      pos = text.find('\n', start);
      bool complete = pos != std::string::npos;
      auto r = nlohmann::json::parse(text.begin() + start, complete ? text.begin() + pos : text.end(), nullptr, false);
      if (!complete && r.is_discarded()) {  // torn last append (crash mid-write): drop it, compact next time
        lines = -1;
        break;
      }
      if (r.is_discarded()) {  // e.g. a contact that is not UTF-8: lose that binding, not the table
        if (lines >= 0) ++lines;
        continue;
      }
      if (auto a = apply(r); !a) return a;
      if (lines >= 0) ++lines;
    }
  } else {
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("registrations") || !j["registrations"].is_array())
      return make_error("not a registrations file");
    for (const auto& r : j["registrations"])
      if (auto a = apply(r); !a) return a;
  }
  // Replay done: drop what expired meanwhile, and targets no registration uses.
  std::unordered_set<std::string> used;
  for (auto it = regs.begin(); it != regs.end();) {
    if (it->second.expires_at <= now) it = regs.erase(it);
    else used.insert(it->second.token), ++it;
  }
  for (auto it = targets.begin(); it != targets.end();) {
    if (!used.count(it->first)) it = targets.erase(it);
    else ++it;
  }
  targets_ = std::move(targets);
  registrations_ = std::move(regs);
  changed_.clear();
  journal_lines_ = lines;
  return {};
}

Result<void> Bindings::save(const std::string& path) {
  if (path != journal_path_ || journal_lines_ < 0 ||
      size_t(journal_lines_) + changed_.size() > std::max(2 * registrations_.size(), kMinJournalLines))
    return compact(path);
  if (changed_.empty()) return {};
  std::string text;
  text.reserve(changed_.size() * 192);
  for (const auto& key : changed_) {
    auto it = registrations_.find(key);
    if (it != registrations_.end()) append_line(text, it->second);
    else append_removal(text, key.first, key.second);
  }
  // Append and fdatasync: one sync per batch. A crash mid-write leaves a torn last line,
  // which load() drops (those bindings come back with the devices' next refresh).
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) return compact(path);  // removed behind our back: write it whole
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fdatasync(fd) == 0;
  ok = (::close(fd) == 0) && ok;
  if (!ok) {
    journal_lines_ = -1;  // maybe torn: the next save rewrites the file
    return make_error("cannot write " + path);
  }
  journal_lines_ += static_cast<int64_t>(std::count(text.begin(), text.end(), '\n'));
  changed_.clear();
  return {};
}

Result<void> Bindings::compact(const std::string& path) {
  // Write a temporary file, fsync it and rename over the old one: a crash leaves either
  // the old journal or the new one, never half of one.
  std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) return make_error("cannot write " + tmp);
  std::string text = serialize();
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size() && std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) return make_error("cannot write " + path);
  journal_path_ = path;
  journal_lines_ = static_cast<int64_t>(std::count(text.begin(), text.end(), '\n')) - 1;
  changed_.clear();
  return {};
}

Result<void> Bindings::load(const std::string& path, int64_t now) {
  std::ifstream in(path);
  if (!in) return {};  // nothing saved yet
  std::stringstream ss;
  ss << in.rdbuf();
  if (auto r = parse(ss.str(), now); !r) return r;
  journal_path_ = path;
  return {};
}

}  // namespace outpost::sip
