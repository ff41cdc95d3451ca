#pragma once
// Turns a control reply's JSON into what a network engineer reads: "key: value" lines,
// nested sections, and lists of records as aligned tables. `--json` bypasses this.
#include <string>

#include <nlohmann/json.hpp>

namespace outpost::ctl {

std::string render_human(const nlohmann::json& data);
// One table from a list of flat objects; columns in first-seen key order.
std::string render_table(const nlohmann::json& rows);

}  // namespace outpost::ctl
