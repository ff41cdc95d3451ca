#pragma once
// Loads and validates outpost.yaml (and the vendor profile it names). Every mistake is
// reported as FILE:LINE:COL; a config with any error is never returned.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/yaml_reader.h"
#include "daemon/config_model.h"

namespace outpost::config {

struct LoadOptions {
  std::string profile_dir;  // overrides management.profile_dir and the built-in default
};

struct LoadResult {
  std::optional<Config> config;  // set only when errors is empty
  ConfigErrors errors;
};

LoadResult load_config(const std::string& file, const LoadOptions& options = {});
// Same, from text (tests); `name` stands for the file name in messages.
LoadResult load_config_text(const std::string& text, const std::string& name, const LoadOptions& options = {});

// The directories searched for a profile, in order.
std::vector<std::string> profile_search_path(const std::string& configured, const LoadOptions& options);
std::vector<std::string> list_profiles(const std::vector<std::string>& search_path);

nlohmann::json to_json(const Config& config);

}  // namespace outpost::config
