#include "dns/rules.h"

namespace outpost::dns {

std::string RewriteTarget::to_string() const {
  std::string out = "A " + (v4 ? v4->to_string() : std::string("nodata"));
  out += ", AAAA " + (v6 ? v6->to_string() : std::string("nodata"));
  out += ", HTTPS/SVCB nodata";
  return out;
}

std::string NameRule::to_string() const { return pattern() + " -> " + target_.to_string() + " (" + origin_ + ")"; }

Result<void> RuleSet::add(std::string_view pattern, RewriteTarget target, std::string origin) {
  bool wildcard = pattern.substr(0, 2) == "*.";
  if (wildcard) pattern.remove_prefix(2);
  auto domain = WireName::from_text(pattern);
  if (!domain || domain->label_count() == 0)
    return make_error("not a DNS name: '" + std::string(pattern) + "'");
  std::unique_ptr<NameRule> rule;
  if (wildcard) rule = std::make_unique<WildcardNameRule>(*domain, std::move(target), std::move(origin));
  else rule = std::make_unique<ExactNameRule>(*domain, std::move(target), std::move(origin));
  Index& index = wildcard ? wildcard_ : exact_;
  std::string key(domain->wire_view());
  if (auto it = index.find(key); it != index.end()) {
    rules_[it->second] = std::move(rule);
    return {};
  }
  index.emplace(std::move(key), rules_.size());
  rules_.push_back(std::move(rule));
  return {};
}

const NameRule* RuleSet::find(const WireName& name) const {
  if (rules_.empty()) return nullptr;
  if (auto it = exact_.find(name.wire_view()); it != exact_.end()) return rules_[it->second].get();
  if (wildcard_.empty()) return nullptr;
  // Longest domain first: suffix(1) drops one label, suffix(2) two, ...
  for (unsigned i = 1; i < name.label_count(); ++i)
    if (auto it = wildcard_.find(name.suffix(i)); it != wildcard_.end()) return rules_[it->second].get();
  return nullptr;
}

}  // namespace outpost::dns
