#pragma once
// Provisioning of the primary link by telco staff (`outpostctl link provision primary ...`):
// the request is validated, written into the config file atomically (write, fsync, rename;
// the previous file kept as FILE.prev), applied by a config reload, and rolled back by
// itself unless the vendor answers through the new link within the confirm timeout
// (commit-confirm). This file holds the pure and file-system parts; the uplink manager
// runs the confirm window.
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/net.h"
#include "common/result.h"

namespace outpost::vpn {

struct PrimaryRequest {
  std::string interface;
  std::optional<unsigned> vlan;
  InterfaceAddress address;
  IpAddress gateway;
  std::optional<unsigned> mtu;
  unsigned confirm_timeout_s = 0;  // 0: the config's uplinks.confirm_timeout
  bool wait = false;               // answer when committed or rolled back, not at once
};

// From the command's args ({"args": ["primary"], "interface": ..., "address": ..., ...}).
// Checks what can be checked without the config (ranges, gateway inside the prefix).
Result<PrimaryRequest> parse_primary_request(const nlohmann::json& args);

// The config text with uplinks.primary replaced by the request (other keys kept; YAML
// comments are not preserved by the rewrite: the previous file keeps them).
Result<std::string> with_primary(const std::string& config_text, const PrimaryRequest& r);

// Writes `text` to `path` atomically: PATH.tmp, fsync, PATH -> PATH.prev (hard link),
// rename PATH.tmp -> PATH, fsync of the directory.
Result<void> write_config_atomically(const std::string& path, const std::string& text);
// Puts PATH.prev back in place of PATH (atomically).
Result<void> restore_previous_config(const std::string& path);

}  // namespace outpost::vpn
