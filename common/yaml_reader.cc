#include "common/yaml_reader.h"

#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>

namespace outpost {
namespace {

std::string type_name(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar: return "a scalar";
    case YAML::NodeType::Null: return "empty";
    default: return "undefined";
  }
}

std::string join(const std::set<std::string>& s) {
  std::string out;
  for (const auto& k : s) out += (out.empty() ? "" : ", ") + k;
  return out;
}

}  // namespace

std::string ConfigError::to_string() const {
  if (line <= 0) return file + ": " + message;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

void ConfigErrors::add(const std::string& file, const YAML::Mark& mark, std::string message) {
  // yaml-cpp marks are 0-based; editors and compilers count from 1.
  if (mark.is_null()) errors_.push_back({file, 0, 0, std::move(message)});
  else errors_.push_back({file, mark.line + 1, mark.column + 1, std::move(message)});
}

std::string ConfigErrors::to_string() const {
  std::string out;
  for (const auto& e : errors_) out += e.to_string() + "\n";
  return out;
}

std::string Origin::where() const {
  if (mark.is_null()) return file;
  return file + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

YamlMap::YamlMap(const YAML::Node& node, std::string file, std::string path, ConfigErrors& errors)
    : node_(node), file_(std::move(file)), path_(std::move(path)), errors_(errors) {
  if (!node_.IsMap()) {
    valid_ = false;
    if (node_.IsDefined() && !node_.IsNull())
      errors_.add(file_, node_.Mark(), path_ + " must be a mapping, not " + type_name(node_));
    node_ = YAML::Node(YAML::NodeType::Map);
    return;
  }
  std::set<std::string> seen;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (!it->first.IsScalar()) {
      errors_.add(file_, it->first.Mark(), "keys in " + path_ + " must be plain names");
      continue;
    }
    auto key = it->first.Scalar();
    if (!seen.insert(key).second) errors_.add(file_, it->first.Mark(), "duplicate key '" + key + "' in " + path_);
  }
}

YamlMap::~YamlMap() { finish(); }

void YamlMap::finish() {
  if (finished_) return;
  finished_ = true;
  if (!valid_) return;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (!it->first.IsScalar()) continue;
    auto key = it->first.Scalar();
    if (!known_.count(key))
      errors_.add(file_, it->first.Mark(),
                  "unknown key '" + key + "' in " + path_ + (known_.empty() ? "" : " (known keys: " + join(known_) + ")"));
  }
}

bool YamlMap::has(const std::string& key) const {
  auto n = node_[key];
  return n.IsDefined() && !n.IsNull();
}

YAML::Node YamlMap::node(const std::string& key) {
  known_.insert(key);
  // Const lookup: yaml-cpp's non-const operator[] would insert the key into the map.
  const YAML::Node& map = node_;
  return map[key];
}

Origin YamlMap::origin(const std::string& key) const {
  auto n = node_[key];
  return {file_, n.IsDefined() ? n.Mark() : node_.Mark()};
}

void YamlMap::error(const std::string& key, const std::string& message) {
  errors_.add(file_, origin(key).mark, path_ + "." + key + ": " + message);
}

void YamlMap::error_here(const std::string& message) { errors_.add(file_, node_.Mark(), path_ + ": " + message); }

void YamlMap::require(const std::string& key) {
  known_.insert(key);
  if (!has(key)) errors_.add(file_, node_.Mark(), path_ + ": missing required key '" + key + "'");
}

YAML::Node YamlMap::scalar(const std::string& key, const char* what) {
  auto n = node(key);
  if (!n.IsDefined() || n.IsNull()) return YAML::Node(YAML::NodeType::Undefined);
  if (!n.IsScalar()) {
    errors_.add(file_, n.Mark(), path_ + "." + key + ": expected " + what + ", got " + type_name(n));
    return YAML::Node(YAML::NodeType::Undefined);
  }
  return n;
}

YAML::Node YamlMap::sequence(const std::string& key) {
  auto n = node(key);
  if (!n.IsDefined() || n.IsNull()) return YAML::Node(YAML::NodeType::Undefined);
  if (!n.IsSequence()) {
    errors_.add(file_, n.Mark(), path_ + "." + key + ": expected a list, got " + type_name(n));
    return YAML::Node(YAML::NodeType::Undefined);
  }
  return n;
}

bool YamlMap::get(const std::string& key, std::string& out) {
  auto n = scalar(key, "a string");
  if (!n) return false;
  out = n.Scalar();
  return true;
}

bool YamlMap::get(const std::string& key, bool& out) {
  auto n = scalar(key, "true or false");
  if (!n) return false;
  const auto& s = n.Scalar();
  if (s == "true" || s == "yes" || s == "on") out = true;
  else if (s == "false" || s == "no" || s == "off") out = false;
  else {
    errors_.add(file_, n.Mark(), path_ + "." + key + ": expected true or false, got '" + s + "'");
    return false;
  }
  return true;
}

bool YamlMap::get(const std::string& key, unsigned& out, unsigned min, unsigned max) {
  auto n = scalar(key, "a number");
  if (!n) return false;
  const auto& s = n.Scalar();
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    errors_.add(file_, n.Mark(), path_ + "." + key + ": expected a whole number, got '" + s + "'");
    return false;
  }
  if (v < min || v > max) {
    errors_.add(file_, n.Mark(), path_ + "." + key + ": " + s + " is out of range (" + std::to_string(min) + "-" +
                                     std::to_string(max) + ")");
    return false;
  }
  out = v;
  return true;
}

bool YamlMap::get(const std::string& key, uint16_t& out, unsigned min, unsigned max) {
  unsigned v = 0;
  if (!get(key, v, min, std::min(max, 65535u))) return false;
  out = static_cast<uint16_t>(v);
  return true;
}

bool YamlMap::get_port(const std::string& key, uint16_t& out) { return get(key, out, 1, 65535); }

bool YamlMap::get(const std::string& key, IpAddress& out) {
  auto n = scalar(key, "an IP address");
  if (!n) return false;
  auto a = parse_address(n.Scalar());
  if (!a) {
    errors_.add(file_, n.Mark(), path_ + "." + key + ": not an IP address: '" + n.Scalar() + "'");
    return false;
  }
  out = *a;
  return true;
}

bool YamlMap::get(const std::string& key, InterfaceAddress& out) {
  auto n = scalar(key, "an address/prefix");
  if (!n) return false;
  auto a = parse_interface_address(n.Scalar());
  if (!a) {
    errors_.add(file_, n.Mark(),
                path_ + "." + key + ": expected an interface address with prefix length (e.g. 10.20.0.1/24), got '" +
                    n.Scalar() + "'");
    return false;
  }
  out = *a;
  return true;
}

bool YamlMap::get(const std::string& key, Prefix& out) {
  auto n = scalar(key, "a prefix");
  if (!n) return false;
  auto p = parse_prefix(n.Scalar());
  if (!p.prefix) {
    errors_.add(file_, n.Mark(), path_ + "." + key + ": " + p.error);
    return false;
  }
  out = *p.prefix;
  return true;
}

bool YamlMap::get(const std::string& key, Endpoint& out, uint16_t default_port) {
  auto n = scalar(key, "an address:port");
  if (!n) return false;
  auto e = parse_endpoint(n.Scalar(), default_port);
  if (!e) {
    errors_.add(file_, n.Mark(), path_ + "." + key + ": expected ADDRESS:PORT, got '" + n.Scalar() + "'");
    return false;
  }
  out = *e;
  return true;
}

bool YamlMap::get(const std::string& key, PortRange& out) {
  auto n = scalar(key, "a port range");
  if (!n) return false;
  auto r = parse_port_range(n.Scalar());
  if (!r) {
    errors_.add(file_, n.Mark(),
                path_ + "." + key + ": expected a port or FIRST-LAST range within 1-65535, got '" + n.Scalar() + "'");
    return false;
  }
  out = *r;
  return true;
}

bool YamlMap::get_dns_name(const std::string& key, std::string& out, bool allow_wildcard) {
  auto n = scalar(key, "a DNS name");
  if (!n) return false;
  if (!valid_dns_name(n.Scalar(), allow_wildcard)) {
    errors_.add(file_, n.Mark(), path_ + "." + key + ": not a valid DNS name: '" + n.Scalar() + "'");
    return false;
  }
  out = n.Scalar();
  return true;
}

bool YamlMap::get_one_of(const std::string& key, std::string& out, const std::vector<std::string>& allowed) {
  auto n = scalar(key, "a string");
  if (!n) return false;
  for (const auto& a : allowed)
    if (a == n.Scalar()) {
      out = a;
      return true;
    }
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  errors_.add(file_, n.Mark(), path_ + "." + key + ": '" + n.Scalar() + "' is not one of: " + list);
  return false;
}

bool YamlMap::get_existing_file(const std::string& key, std::string& out) {
  auto n = scalar(key, "a file path");
  if (!n) return false;
  if (::access(n.Scalar().c_str(), R_OK) != 0) {
    errors_.add(file_, n.Mark(), path_ + "." + key + ": cannot read file '" + n.Scalar() + "'");
    return false;
  }
  out = n.Scalar();
  return true;
}

namespace {
// Runs `each(element_node)` over a list, reporting non-scalars at their position.
template <class F>
bool for_each_scalar(const YAML::Node& seq, const std::string& file, const std::string& where, ConfigErrors& errors,
                     F each) {
  bool all_ok = true;
  for (const auto& el : seq) {
    if (!el.IsScalar()) {
      errors.add(file, el.Mark(), where + ": list elements must be scalars, got " + type_name(el));
      all_ok = false;
      continue;
    }
    all_ok = each(el) && all_ok;
  }
  return all_ok;
}
}  // namespace

bool YamlMap::get_list(const std::string& key, std::vector<std::string>& out) {
  auto seq = sequence(key);
  if (!seq) return false;
  out.clear();
  return for_each_scalar(seq, file_, path_ + "." + key, errors_, [&](const YAML::Node& el) {
    out.push_back(el.Scalar());
    return true;
  });
}

bool YamlMap::get_list(const std::string& key, std::vector<Prefix>& out, std::vector<Origin>* origins) {
  auto seq = sequence(key);
  if (!seq) return false;
  out.clear();
  if (origins) origins->clear();
  return for_each_scalar(seq, file_, path_ + "." + key, errors_, [&](const YAML::Node& el) {
    auto p = parse_prefix(el.Scalar());
    if (!p.prefix) {
      errors_.add(file_, el.Mark(), path_ + "." + key + ": " + p.error);
      return false;
    }
    out.push_back(*p.prefix);
    if (origins) origins->push_back({file_, el.Mark()});
    return true;
  });
}

bool YamlMap::get_list(const std::string& key, std::vector<Endpoint>& out, uint16_t default_port) {
  auto seq = sequence(key);
  if (!seq) return false;
  out.clear();
  return for_each_scalar(seq, file_, path_ + "." + key, errors_, [&](const YAML::Node& el) {
    auto e = parse_endpoint(el.Scalar(), default_port);
    if (!e) {
      errors_.add(file_, el.Mark(), path_ + "." + key + ": expected ADDRESS[:PORT], got '" + el.Scalar() + "'");
      return false;
    }
    out.push_back(*e);
    return true;
  });
}

bool YamlMap::get_list(const std::string& key, std::vector<IpAddress>& out) {
  auto seq = sequence(key);
  if (!seq) return false;
  out.clear();
  return for_each_scalar(seq, file_, path_ + "." + key, errors_, [&](const YAML::Node& el) {
    auto a = parse_address(el.Scalar());
    if (!a) {
      errors_.add(file_, el.Mark(), path_ + "." + key + ": not an IP address: '" + el.Scalar() + "'");
      return false;
    }
    out.push_back(*a);
    return true;
  });
}

bool YamlMap::get_list(const std::string& key, std::vector<PortRange>& out, std::vector<Origin>* origins) {
  auto seq = sequence(key);
  if (!seq) return false;
  out.clear();
  if (origins) origins->clear();
  return for_each_scalar(seq, file_, path_ + "." + key, errors_, [&](const YAML::Node& el) {
    auto r = parse_port_range(el.Scalar());
    if (!r) {
      errors_.add(file_, el.Mark(), path_ + "." + key + ": expected a port or FIRST-LAST range, got '" + el.Scalar() + "'");
      return false;
    }
    out.push_back(*r);
    if (origins) origins->push_back({file_, el.Mark()});
    return true;
  });
}

bool YamlMap::get_dns_names(const std::string& key, std::vector<std::string>& out, bool allow_wildcard) {
  auto seq = sequence(key);
  if (!seq) return false;
  out.clear();
  return for_each_scalar(seq, file_, path_ + "." + key, errors_, [&](const YAML::Node& el) {
    if (!valid_dns_name(el.Scalar(), allow_wildcard)) {
      errors_.add(file_, el.Mark(), path_ + "." + key + ": not a valid DNS name: '" + el.Scalar() + "'");
      return false;
    }
    out.push_back(el.Scalar());
    return true;
  });
}

std::optional<YAML::Node> load_yaml_file(const std::string& file, ConfigErrors& errors) {
  std::ifstream in(file);
  if (!in) {
    errors.add(ConfigError{file, 0, 0, "cannot open file"});
    return std::nullopt;
  }
  std::stringstream text;
  text << in.rdbuf();
  try {
    return YAML::Load(text.str());
  } catch (const YAML::Exception& e) {
    errors.add(file, e.mark, "YAML syntax error: " + e.msg);
    return std::nullopt;
  }
}

}  // namespace outpost
