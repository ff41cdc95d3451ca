#pragma once
// The device side of outpost's contact mapping, and the registration binding table.
// A device contact (e.g. sip:alice@10.20.0.10:5062) seen on a flow gets a token; the vendor
// sees sip:op<token>@<uplink address> instead. Requests from the vendor to such a URI go
// back to the device's contact over the flow it registered or called from.
// Registrations (AOR, contact, transport, source, expiry) are persisted as JSON so that
// calls to registered devices still reach them after a daemon restart.
#include <cstdint>
#include <map>
#include <unordered_map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "sipalg/flow.h"

namespace outpost::sip {

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
  // The token in an outpost contact (sip:op<token>@<our uplink address>), if it is one.
  static std::optional<std::string> token_of(const std::string& uri, const Identity& me);
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
  nlohmann::json to_json(int64_t now) const;  // one row per registration (for `show`)
  size_t tokens() const { return targets_.size(); }

  // Persistence: the registrations and their targets. load() replaces what is held.
  std::string serialize() const;
  Result<void> parse(const std::string& text, int64_t now);
  Result<void> save(const std::string& path) const;
  Result<void> load(const std::string& path, int64_t now);

 private:
  std::unordered_map<std::string, DeviceTarget> targets_;  // token -> device
  std::map<std::pair<std::string, std::string>, Binding> registrations_;  // (aor, token)
};

std::string make_token(const std::string& device_contact, const Flow& flow);

}  // namespace outpost::sip
