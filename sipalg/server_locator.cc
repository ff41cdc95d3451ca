#include "sipalg/server_locator.h"

#include <algorithm>
#include <cctype>

#include "dns/dns.h"

namespace outpost::sip {

std::optional<SrvRecord> parse_srv(const std::vector<uint8_t>& d) {
  if (d.size() < 7) return std::nullopt;
  SrvRecord r;
  r.priority = static_cast<uint16_t>(d[0] << 8 | d[1]);
  r.weight = static_cast<uint16_t>(d[2] << 8 | d[3]);
  r.port = static_cast<uint16_t>(d[4] << 8 | d[5]);
  size_t i = 6;
  while (i < d.size()) {
    uint8_t len = d[i++];
    if (len == 0) {
      if (i != d.size()) return std::nullopt;
      if (r.target.empty()) return std::nullopt;  // "." means no service
      return r;
    }
    if (len > 63 || i + len > d.size()) return std::nullopt;  // compression is not allowed in SRV
    if (!r.target.empty()) r.target += '.';
    r.target.append(reinterpret_cast<const char*>(&d[i]), len);
    i += len;
  }
  return std::nullopt;
}

namespace {

// A <character-string> (RFC 1035 3.3): a length byte and that many bytes.
bool read_string(const std::vector<uint8_t>& d, size_t& i, std::string& out) {
  if (i >= d.size() || i + 1 + d[i] > d.size()) return false;
  out.assign(reinterpret_cast<const char*>(&d[i + 1]), d[i]);
  i += 1 + d[i];
  return true;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::optional<NaptrRecord> parse_naptr(const std::vector<uint8_t>& d) {
  if (d.size() < 8) return std::nullopt;
  NaptrRecord r;
  r.order = static_cast<uint16_t>(d[0] << 8 | d[1]);
  r.preference = static_cast<uint16_t>(d[2] << 8 | d[3]);
  size_t i = 4;
  if (!read_string(d, i, r.flags) || !read_string(d, i, r.service) || !read_string(d, i, r.regexp)) return std::nullopt;
  while (i < d.size()) {
    uint8_t len = d[i++];
    if (len == 0) return i == d.size() ? std::optional<NaptrRecord>(r) : std::nullopt;  // "." : no replacement
    if (len > 63 || i + len > d.size()) return std::nullopt;  // RFC 3403: the replacement is never compressed
    if (!r.replacement.empty()) r.replacement += '.';
    r.replacement.append(reinterpret_cast<const char*>(&d[i]), len);
    i += len;
  }
  return std::nullopt;
}

std::optional<std::string> select_naptr(std::vector<NaptrRecord> records, Transport t) {
  const char* wanted = t == Transport::tcp ? "sip+d2t" : t == Transport::tls ? "sips+d2t" : "sip+d2u";
  std::stable_sort(records.begin(), records.end(), [](const NaptrRecord& a, const NaptrRecord& b) {
    return a.order != b.order ? a.order < b.order : a.preference < b.preference;
  });
  for (const auto& r : records)
    if (lower(r.flags) == "s" && lower(r.service) == wanted && !r.replacement.empty()) return r.replacement;
  return std::nullopt;
}

std::optional<std::pair<Transport, std::string>> select_naptr_any(std::vector<NaptrRecord> records) {
  std::stable_sort(records.begin(), records.end(), [](const NaptrRecord& a, const NaptrRecord& b) {
    return a.order != b.order ? a.order < b.order : a.preference < b.preference;
  });
  for (const auto& r : records) {
    if (lower(r.flags) != "s" || r.replacement.empty()) continue;
    std::string service = lower(r.service);
    if (service == "sips+d2t") return std::make_pair(Transport::tls, r.replacement);
    if (service == "sip+d2t") return std::make_pair(Transport::tcp, r.replacement);
    if (service == "sip+d2u") return std::make_pair(Transport::udp, r.replacement);
  }
  return std::nullopt;
}

void sort_srv(std::vector<SrvRecord>& records) {
  std::stable_sort(records.begin(), records.end(), [](const SrvRecord& a, const SrvRecord& b) {
    return a.priority != b.priority ? a.priority < b.priority : a.weight > b.weight;
  });
}

ServerLocator::ServerLocator(std::vector<config::SipServer> servers, std::shared_ptr<dns::UplinkResolver> resolver,
                             Logger log, std::chrono::seconds blacklist_for)
    : servers_(std::move(servers)), resolver_(std::move(resolver)), log_(std::move(log)), blacklist_for_(blacklist_for) {}

namespace {

Transport transport_of(const config::SipServer& s) {
  if (s.transport == "tcp") return Transport::tcp;
  if (s.transport == "tls") return Transport::tls;
  if (s.transport == "wss") return Transport::wss;
  return Transport::udp;
}

struct Pending {
  std::vector<std::vector<ServerTarget>> per_entry;
  int outstanding = 0;
  std::function<void(std::vector<ServerTarget>)> finish;
  void done_one() {
    if (--outstanding > 0) return;
    std::vector<ServerTarget> all;
    for (auto& list : per_entry)
      for (auto& t : list)
        if (std::none_of(all.begin(), all.end(), [&](const ServerTarget& x) {
              return x.endpoint.address == t.endpoint.address && x.endpoint.port == t.endpoint.port &&
                     x.transport == t.transport;
            }))
          all.push_back(t);
    finish(std::move(all));
  }
};

}  // namespace

void ServerLocator::refresh(std::function<void()> done) {
  auto pending = std::make_shared<Pending>();
  pending->per_entry.resize(servers_.size());
  pending->outstanding = 1;  // released at the end of this function
  std::weak_ptr<bool> alive = alive_;
  pending->finish = [this, alive, done](std::vector<ServerTarget> all) {
    if (!alive.lock()) return;
    if (!all.empty()) targets_ = std::move(all);
    log_.info("vendor SIP servers: ", targets_.size(), " located");
    if (done) done();
  };
  auto resolve_a = [this, pending](size_t entry, const std::string& name, uint16_t port, Transport t) {
    ++pending->outstanding;
    resolver_->resolve(name, 1, [this, pending, entry, name, port, t](Result<dns::UplinkAnswer> r) {
      if (r && r->rcode == 0)
        for (const auto& a : r->addresses) pending->per_entry[entry].push_back({name, Endpoint{a, port}, t, servers_[entry].path});
      else last_error_ = "A " + name + ": " + (r ? "rcode " + std::to_string(r->rcode) : r.error().message);
      pending->done_one();
    });
  };
  // RFC 3263 4.1: the SRV records of `srv`, then A for each target (A of the entry on port
  // 5060 when there are none).
  auto resolve_srv = [this, pending, resolve_a](size_t i, const config::SipServer& s, Transport t, const std::string& srv) {
    ++pending->outstanding;
    resolver_->resolve(srv, 33, [this, pending, i, s, t, srv, resolve_a](Result<dns::UplinkAnswer> r) {
      std::vector<SrvRecord> records;
      if (r && r->rcode == 0)
        for (const auto& d : r->rdata)
          if (auto rec = parse_srv(d)) records.push_back(*rec);
      sort_srv(records);
      if (records.empty()) {
        resolve_a(i, s.host, default_port(t), t);  // RFC 3263 4.2: no SRV, use A with the default port
      } else {
        // One slot per SRV target keeps the SRV order whatever order the A answers come in.
        auto sub = std::make_shared<std::vector<std::vector<ServerTarget>>>(records.size());
        auto left = std::make_shared<size_t>(records.size());
        for (size_t k = 0; k < records.size(); ++k) {
          ++pending->outstanding;
          auto rec = records[k];
          resolver_->resolve(rec.target, 1, [pending, sub, left, i, k, rec, t, path = s.path](Result<dns::UplinkAnswer> a) {
            if (a && a->rcode == 0)
              for (const auto& addr : a->addresses) (*sub)[k].push_back({rec.target, Endpoint{addr, rec.port}, t, path});
            if (--*left == 0)
              for (auto& list : *sub) pending->per_entry[i].insert(pending->per_entry[i].end(), list.begin(), list.end());
            pending->done_one();
          });
        }
      }
      pending->done_one();
    });
  };
  for (size_t i = 0; i < servers_.size(); ++i) {
    const auto& s = servers_[i];
    Transport t = transport_of(s);
    if (auto a = parse_address(s.host)) {
      pending->per_entry[i].push_back({s.host, Endpoint{*a, s.port ? s.port : default_port(t)}, t, s.path});
      continue;
    }
    if (!resolver_) {
      last_error_ = "no uplink resolver for " + s.host;
      continue;
    }
    // WebSocket servers are named by URL (RFC 7118 defines no SRV/NAPTR use): A records
    // on the given port or 443.
    if (s.port || t == Transport::wss) {
      resolve_a(i, s.host, s.port ? s.port : default_port(t), t);
      continue;
    }
    // NAPTR first: the domain may name its SRV records for our transport.
    std::string fallback = std::string(t == Transport::tcp   ? "_sip._tcp."
                                       : t == Transport::tls ? "_sips._tcp."
                                                             : "_sip._udp.") +
                           s.host;
    ++pending->outstanding;
    bool automatic = s.transport == "auto";
    resolver_->resolve(s.host, 35, [pending, i, s, t, fallback, automatic, resolve_srv](Result<dns::UplinkAnswer> r) {
      std::vector<NaptrRecord> records;
      if (r && r->rcode == 0)
        for (const auto& d : r->rdata)
          if (auto rec = parse_naptr(d)) records.push_back(*rec);
      if (automatic) {
        // RFC 3263 4.1: the domain's most preferred NAPTR record picks the transport; with
        // none, UDP (the SRV fallback for the transport every SIP element supports).
        auto pick = select_naptr_any(std::move(records));
        resolve_srv(i, s, pick ? pick->first : Transport::udp, pick ? pick->second : fallback);
      } else {
        auto srv = select_naptr(std::move(records), t);
        resolve_srv(i, s, t, srv ? *srv : fallback);
      }
      pending->done_one();
    });
  }
  pending->done_one();
}

std::vector<ServerTarget> ServerLocator::candidates(Clock::time_point now) const {
  std::vector<ServerTarget> good, bad;
  for (const auto& t : targets_) {
    auto it = blacklisted_until_.find(t.endpoint.to_string());
    (it != blacklisted_until_.end() && it->second > now ? bad : good).push_back(t);
  }
  // All blacklisted: try them anyway, the one whose penalty ends first first.
  std::stable_sort(bad.begin(), bad.end(), [this](const ServerTarget& a, const ServerTarget& b) {
    return blacklisted_until_.at(a.endpoint.to_string()) < blacklisted_until_.at(b.endpoint.to_string());
  });
  good.insert(good.end(), bad.begin(), bad.end());
  return good;
}

void ServerLocator::blacklist(const Endpoint& server, Clock::time_point now) {
  blacklisted_until_[server.to_string()] = now + blacklist_for_;
  log_.warn("vendor SIP server ", server.to_string(), " blacklisted for ", blacklist_for_.count(), " s");
}

bool ServerLocator::is_server(const IpAddress& a) const {
  return std::any_of(targets_.begin(), targets_.end(), [&](const ServerTarget& t) { return t.endpoint.address == a; });
}

std::optional<ServerTarget> ServerLocator::server_at(const IpAddress& a) const {
  for (const auto& t : targets_)
    if (t.endpoint.address == a) return t;
  return std::nullopt;
}

nlohmann::json ServerLocator::status(Clock::time_point now) const {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& t : targets_) {
    auto it = blacklisted_until_.find(t.endpoint.to_string());
    long left = it != blacklisted_until_.end() && it->second > now
                    ? long(std::chrono::duration_cast<std::chrono::seconds>(it->second - now).count()) + 1
                    : 0;
    rows.push_back({{"name", t.name},
                    {"address", t.endpoint.to_string()},
                    {"transport", to_string(t.transport)},
                    {"state", left ? "blacklisted" : "usable"},
                    {"blacklisted_for_s", left}});
  }
  return rows;
}

}  // namespace outpost::sip
