#pragma once
// Reading typed config out of YAML with precise FILE:LINE:COL errors. A YamlMap reads one
// mapping: every getter marks its key as known, wrong types and bad values are reported
// at the value, and finish() reports every key nobody asked for. Errors are collected,
// never thrown, so one run reports every mistake in a file.
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "common/net.h"

namespace outpost {

struct ConfigError {
  std::string file;
  int line = 0;    // 1-based; 0 = whole file
  int column = 0;  // 1-based
  std::string message;
  std::string to_string() const;  // "FILE:LINE:COL: message"
};

class ConfigErrors {
 public:
  void add(const std::string& file, const YAML::Mark& mark, std::string message);
  void add(ConfigError e) { errors_.push_back(std::move(e)); }
  bool empty() const { return errors_.empty(); }
  size_t size() const { return errors_.size(); }
  const std::vector<ConfigError>& list() const { return errors_; }
  std::string to_string() const;  // one error per line

 private:
  std::vector<ConfigError> errors_;
};

// Where a value came from, for cross-checks reported after reading (overlaps, duplicates).
struct Origin {
  std::string file;
  YAML::Mark mark;
  std::string where() const;  // "FILE:LINE:COL"
};

class YamlMap {
 public:
  // `path` names the section in messages ("uplinks.primary").
  YamlMap(const YAML::Node& node, std::string file, std::string path, ConfigErrors& errors);
  YamlMap(const YamlMap&) = delete;
  ~YamlMap();

  bool valid() const { return valid_; }  // false if the node is not a mapping (already reported)
  bool has(const std::string& key) const;
  // The raw node, marking the key known; an undefined node when absent.
  YAML::Node node(const std::string& key);
  Origin origin(const std::string& key) const;  // the value's position (or the map's)
  Origin origin() const { return {file_, node_.Mark()}; }
  void error(const std::string& key, const std::string& message);  // at the key's value
  void error_here(const std::string& message);                     // at the map itself
  void require(const std::string& key);                            // reports if absent

  // Typed getters: leave `out` untouched when absent; return true if a valid value was read.
  bool get(const std::string& key, std::string& out);
  bool get(const std::string& key, bool& out);
  bool get(const std::string& key, unsigned& out, unsigned min, unsigned max);
  bool get(const std::string& key, uint16_t& out, unsigned min = 0, unsigned max = 65535);
  bool get_port(const std::string& key, uint16_t& out);  // 1-65535
  bool get(const std::string& key, IpAddress& out);
  bool get(const std::string& key, InterfaceAddress& out);
  bool get(const std::string& key, Prefix& out);
  bool get(const std::string& key, Endpoint& out, uint16_t default_port = 0);
  bool get(const std::string& key, PortRange& out);
  bool get_dns_name(const std::string& key, std::string& out, bool allow_wildcard);
  bool get_one_of(const std::string& key, std::string& out, const std::vector<std::string>& allowed);
  bool get_existing_file(const std::string& key, std::string& out);  // path must exist and be readable

  // Lists: each element is checked and reported at its own position.
  bool get_list(const std::string& key, std::vector<std::string>& out);
  bool get_list(const std::string& key, std::vector<Prefix>& out, std::vector<Origin>* origins = nullptr);
  bool get_list(const std::string& key, std::vector<Endpoint>& out, uint16_t default_port = 0);
  bool get_list(const std::string& key, std::vector<IpAddress>& out);
  bool get_list(const std::string& key, std::vector<PortRange>& out, std::vector<Origin>* origins = nullptr);
  bool get_dns_names(const std::string& key, std::vector<std::string>& out, bool allow_wildcard);

  // Reports keys that no getter asked for; called by the destructor if not called before.
  void finish();

 private:
  YAML::Node scalar(const std::string& key, const char* what);
  YAML::Node sequence(const std::string& key);

  YAML::Node node_;
  std::string file_;
  std::string path_;
  ConfigErrors& errors_;
  std::set<std::string> known_;
  bool valid_ = true;
  bool finished_ = false;
};

// Parses a YAML file; a syntax error is reported with its position and gives nullopt.
std::optional<YAML::Node> load_yaml_file(const std::string& file, ConfigErrors& errors);

}  // namespace outpost
