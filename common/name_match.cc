#include "common/name_match.h"

#include "common/net.h"

namespace outpost {

std::optional<std::string> normalize_host_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (!valid_dns_name(name, false)) return std::nullopt;
  std::string out(name);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

Result<void> NamePatternSet::add(std::string_view pattern) {
  bool wildcard = pattern.substr(0, 2) == "*.";
  if (wildcard) pattern.remove_prefix(2);
  auto domain = normalize_host_name(pattern);
  if (!domain) return make_error("not a DNS name pattern: '" + std::string(pattern) + "'");
  auto& set = wildcard ? wildcard_ : exact_;
  std::string shown = (wildcard ? "*." : "") + *domain;
  if (set.insert(*domain).second) patterns_.push_back(std::move(shown));
  return {};
}

std::optional<std::string> NamePatternSet::match(std::string_view name) const {
  auto n = normalize_host_name(name);
  if (!n) return std::nullopt;
  if (exact_.count(*n)) return *n;
  // Longest domain first: drop one label at a time.
  for (size_t dot = n->find('.'); dot != std::string::npos; dot = n->find('.', dot + 1)) {
    std::string domain = n->substr(dot + 1);
    if (wildcard_.count(domain)) return "*." + domain;
  }
  return std::nullopt;
}

}  // namespace outpost
