#pragma once
// Vendor name rules, dnsdist style: each rule is a small selector with matches() and
// to_string(), carrying what a matching name is answered with. A RuleSet is immutable once
// built; a reload builds a new one and swaps it in whole.
//
// Semantics (documented in dns/README.md):
//   "sip.vendor.example"  exact: that name only.
//   "*.vendor.example"    wildcard: every name strictly below vendor.example, at any depth
//                         (a.vendor.example, x.y.vendor.example), NOT vendor.example itself;
//                         list the apex separately if it must be rewritten too.
//   Matching ignores ASCII case and a trailing dot. The most specific rule wins: an exact
//   rule, else the wildcard with the longest domain; for the same pattern, dns.overrides
//   replaces the vendor profile's rule.
#include <atomic>
#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/ip/address_v6.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "dns/wire.h"

namespace outpost::dns {

// What a matching name resolves to. A missing family answers NOERROR with no data.
struct RewriteTarget {
  std::optional<boost::asio::ip::address_v4> v4;
  std::optional<boost::asio::ip::address_v6> v6;
  std::string to_string() const;
};

class NameRule {
 public:
  NameRule(WireName domain, RewriteTarget target, std::string origin)
      : domain_(domain), target_(std::move(target)), origin_(std::move(origin)) {}
  virtual ~NameRule() = default;
  NameRule(const NameRule&) = delete;
  NameRule& operator=(const NameRule&) = delete;

  virtual bool matches(const WireName& name) const = 0;
  virtual bool is_wildcard() const = 0;
  // "*.vendor.example -> A 10.20.0.1, AAAA nodata, HTTPS/SVCB nodata (vendor profile lab)"
  std::string to_string() const;
  std::string pattern() const { return (is_wildcard() ? "*." : "") + domain_.to_text(); }
  const WireName& domain() const { return domain_; }
  const RewriteTarget& target() const { return target_; }
  const std::string& origin() const { return origin_; }

  // Hits since this rule set was built (shown by `show dns`).
  void count_hit() const { hits_.fetch_add(1, std::memory_order_relaxed); }
  uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }

 private:
  WireName domain_;
  RewriteTarget target_;
  std::string origin_;
  mutable std::atomic<uint64_t> hits_{0};
};

class ExactNameRule final : public NameRule {
 public:
  using NameRule::NameRule;
  bool matches(const WireName& name) const override { return name == domain(); }
  bool is_wildcard() const override { return false; }
};

class WildcardNameRule final : public NameRule {
 public:
  using NameRule::NameRule;
  bool matches(const WireName& name) const override {
    unsigned n = name.label_count(), d = domain().label_count();
    return n > d && name.suffix(n - d) == domain().wire_view();
  }
  bool is_wildcard() const override { return true; }
};

class RuleSet {
 public:
  // "name" or "*.domain" (trailing dot and case ignored). A pattern already present is
  // replaced, keeping its place in the listing.
  Result<void> add(std::string_view pattern, RewriteTarget target, std::string origin);
  // The most specific matching rule, or nullptr. No allocation.
  const NameRule* find(const WireName& name) const;
  const std::vector<std::unique_ptr<NameRule>>& rules() const { return rules_; }
  size_t size() const { return rules_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Index = std::unordered_map<std::string, size_t, Hash, std::equal_to<>>;
  std::vector<std::unique_ptr<NameRule>> rules_;
  Index exact_;     // wire name -> index in rules_
  Index wildcard_;  // wire domain -> index in rules_
};

}  // namespace outpost::dns
