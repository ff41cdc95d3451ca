#pragma once
// Vendor name patterns as text, for components that match host names outside DNS (the TLS
// passthrough's SNI and Host checks). Same semantics as the DNS rewrite rules (dns/rules.h):
//   "sip.vendor.example"  exact: that name only.
//   "*.vendor.example"    every name strictly below vendor.example, at any depth; not the
//                         apex itself.
// Matching ignores ASCII case and a trailing dot; the most specific pattern wins (exact,
// else the wildcard with the longest domain). Immutable once built; a reload builds anew.
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "common/result.h"

namespace outpost {

// "Www.Vendor.Example." -> "www.vendor.example"; nullopt if it is not a valid host name.
std::optional<std::string> normalize_host_name(std::string_view name);

class NamePatternSet {
 public:
  // "name" or "*.domain"; an error names the bad pattern.
  Result<void> add(std::string_view pattern);
  // The pattern that matches `name` ("*.vendor.example" or "sip.vendor.example"), or
  // nullopt. `name` need not be normalized; an invalid name matches nothing.
  std::optional<std::string> match(std::string_view name) const;
  const std::vector<std::string>& patterns() const { return patterns_; }
  bool empty() const { return patterns_.empty(); }

 private:
  std::unordered_set<std::string> exact_;
  std::unordered_set<std::string> wildcard_;  // the domain below which names match
  std::vector<std::string> patterns_;         // as added (normalized), for `show`
};

}  // namespace outpost
