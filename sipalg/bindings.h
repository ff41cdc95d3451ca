#pragma once
// The device side of outpost's contact mapping, and the registration binding table.
// A device contact (e.g. sip:alice@10.20.0.10:5062) seen on a flow gets a token; the vendor
// sees sip:op<token>@<uplink address> instead. Requests from the vendor to such a URI go
// back to the device's contact over the flow it registered or called from.
// Registrations (AOR, contact, transport, source, expiry) are persisted as a journal of
// JSON lines so that calls to registered devices still reach them after a daemon restart.
#include <cstdint>
#include <map>
#include <set>
#include <unordered_map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "sipalg/flow.h"

namespace outpost::sip {

struct UriParts;  // rewrite.h

struct DeviceTarget {
  std::string contact;  // the device's own Contact URI
  Flow flow;            // where it was seen (source address, transport, connection)
  int64_t last_used = 0;
};

struct Binding {
  std::string aor;
  std::string token;
  int64_t expires_at = 0;  // unix seconds
};

class Bindings {
 public:
  static constexpr const char* kUserPrefix = "op";

  // The outpost contact that stands for `device_contact` on the uplink side.
  std::string map_out(const std::string& device_contact, const Flow& flow, const Identity& me,
                      Transport uplink_transport, int64_t now);
  // The same, for a token the caller already has (make_token(device_contact, flow)).
  std::string map_out_token(const std::string& token, const std::string& device_contact, const Flow& flow,
                            const Identity& me, Transport uplink_transport, int64_t now);
  // The token in an outpost contact (sip:op<token>@<our uplink address>), if it is one.
  static std::optional<std::string> token_of(const std::string& uri, const Identity& me);
  static std::optional<std::string> token_of(const UriParts& uri, const Identity& me);
  const DeviceTarget* lookup(const std::string& token) const;
  void touch(const std::string& token, int64_t now);

  void registered(const std::string& aor, const std::string& token, unsigned expires_s, int64_t now);
  void unregistered(const std::string& aor, const std::string& token);
  // Drops expired registrations and dialog-only tokens unused for a day. True if the
  // persisted registrations changed.
  bool expire(int64_t now);

  // Seconds left of the vendor's binding for (aor, token), if there is one.
  std::optional<int64_t> expires_in(const std::string& aor, const std::string& token, int64_t now) const;
  std::vector<Binding> registrations() const;
  // Calls f(const Binding&) for every registration, without copying the table (the
  // keep-alive walks it every second).
  template <typename F>
  void each_registration(F&& f) const {
    for (const auto& [key, b] : registrations_) f(b);
  }
  nlohmann::json to_json(int64_t now) const;  // one row per registration (for `show`)
  size_t tokens() const { return targets_.size(); }

  // Persistence: the registrations and their targets, as a journal of JSON lines (a
  // header line, then one line per registration set or removed). save() appends the
  // registrations changed since the last save (O(changes), not O(table)); once the journal
  // holds more than twice the table's lines it is rewritten whole (compacted) instead.
  // Expiries are not journaled: replay drops what has expired. load() replaces what is held.
  std::string serialize() const;  // the compacted journal
  Result<void> parse(const std::string& text, int64_t now);
  Result<void> save(const std::string& path);
  Result<void> load(const std::string& path, int64_t now);

 private:
  std::unordered_map<std::string, DeviceTarget> targets_;  // token -> device
  std::map<std::pair<std::string, std::string>, Binding> registrations_;  // (aor, token)
  // Journal state: keys set or removed since the last save, the file they go to and how
  // many lines it holds (-1: unknown or damaged, so the next save compacts).
  std::set<std::pair<std::string, std::string>> changed_;
  std::string journal_path_;
  int64_t journal_lines_ = -1;

  void append_line(std::string& out, const Binding& b) const;
  Result<void> compact(const std::string& path);
};

std::string make_token(const std::string& device_contact, const Flow& flow);

}  // namespace outpost::sip
