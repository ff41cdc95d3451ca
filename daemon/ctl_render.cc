#include "daemon/ctl_render.h"

#include <algorithm>
#include <vector>

namespace outpost::ctl {
namespace {

using nlohmann::json;

std::string scalar_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "-";
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  if (v.is_array()) {
    std::string out;
    for (const auto& e : v) out += (out.empty() ? "" : ", ") + scalar_text(e);
    return out.empty() ? "-" : out;
  }
  if (v.is_object()) return v.dump();
  return v.dump();
}

// A list of plain values prints on its key's line, joined with commas, when that stays
// readable; long lists, and values that hold commas themselves (error messages), get a
// line each instead.
bool is_scalar_list(const json& v) {
  if (!v.is_array() || !std::all_of(v.begin(), v.end(), [](const json& e) { return !e.is_structured(); }))
    return false;
  size_t length = 0;
  for (const auto& e : v) {
    std::string text = scalar_text(e);
    if (text.find(", ") != std::string::npos) return false;
    length += text.size() + 2;
  }
  return length <= 80;
}

bool is_record_list(const json& v) {
  return v.is_array() && !v.empty() && std::all_of(v.begin(), v.end(), [](const json& e) { return e.is_object(); });
}

void render_object(const json& obj, int indent, std::string& out) {
  size_t width = 0;
  for (auto it = obj.begin(); it != obj.end(); ++it)
    if (!it.value().is_structured() || is_scalar_list(it.value())) width = std::max(width, it.key().size());
  std::string pad(static_cast<size_t>(indent), ' ');
  // Scalars first, as a block of aligned "key: value" lines; sections after.
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    const auto& v = it.value();
    if (v.is_structured() && !is_scalar_list(v)) continue;
    out += pad + it.key() + ":" + std::string(width - it.key().size() + 1, ' ') + scalar_text(v) + "\n";
  }
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    const auto& v = it.value();
    if (!v.is_structured() || is_scalar_list(v)) continue;
    out += "\n" + pad + it.key() + ":\n";
    if (is_record_list(v)) {
      std::string table = render_table(v);
      size_t start = 0;
      while (start < table.size()) {
        size_t nl = table.find('\n', start);
        out += pad + "  " + table.substr(start, nl - start) + "\n";
        start = nl + 1;
      }
    } else if (v.is_object()) {
      if (v.empty()) out += pad + "  (none)\n";
      else render_object(v, indent + 2, out);
    } else if (v.is_array() && v.empty()) {
      out += pad + "  (none)\n";
    } else {
      for (const auto& e : v) out += pad + "  - " + scalar_text(e) + "\n";
    }
  }
}

}  // namespace

std::string render_table(const json& rows) {
  // Nested records (a call's media streams) do not fit a cell: the table keeps the plain
  // columns, and each row's nested values follow it, under the row's first column.
  auto nested = [](const json& v) { return v.is_structured() && !is_scalar_list(v) && !v.empty(); };
  std::vector<std::string> columns, details;
  for (const auto& row : rows)
    for (auto it = row.begin(); it != row.end(); ++it) {
      auto& list = nested(it.value()) ? details : columns;
      if (std::find(list.begin(), list.end(), it.key()) == list.end()) list.push_back(it.key());
    }
  for (const auto& d : details) std::erase(columns, d);
  std::vector<std::vector<std::string>> cells;
  std::vector<size_t> width(columns.size());
  for (size_t c = 0; c < columns.size(); ++c) width[c] = columns[c].size();
  for (const auto& row : rows) {
    std::vector<std::string> line;
    for (size_t c = 0; c < columns.size(); ++c) {
      auto it = row.find(columns[c]);
      line.push_back(it == row.end() ? "-" : scalar_text(*it));
      width[c] = std::max(width[c], line.back().size());
    }
    cells.push_back(std::move(line));
  }
  auto emit = [&](const std::vector<std::string>& line, std::string& out) {
    std::string text;
    for (size_t c = 0; c < line.size(); ++c) {
      text += line[c];
      if (c + 1 < line.size()) text += std::string(width[c] - line[c].size() + 2, ' ');
    }
    out += text + "\n";
  };
  std::string out;
  std::vector<std::string> header;
  for (const auto& c : columns) {
    std::string h = c;
    std::transform(h.begin(), h.end(), h.begin(), ::toupper);
    header.push_back(h);
  }
  emit(header, out);
  for (const auto& line : cells) emit(line, out);
  for (size_t r = 0; r < rows.size(); ++r)
    for (const auto& d : details) {
      auto it = rows[r].find(d);
      if (it == rows[r].end() || !nested(*it)) continue;
      std::string title = columns.empty() ? "row " + std::to_string(r + 1) : columns[0] + " " + cells[r][0];
      out += "\n" + title + ", " + d + ":\n";
      std::string body = render_human(*it);
      for (size_t start = 0; start < body.size();) {
        size_t nl = body.find('\n', start);
        std::string line = body.substr(start, nl - start);
        out += (line.empty() ? "" : "  " + line) + "\n";
        start = nl + 1;
      }
    }
  return out;
}

std::string render_human(const json& data) {
  if (is_record_list(data)) return render_table(data);
  if (data.is_object()) {
    std::string out;
    render_object(data, 0, out);
    return out;
  }
  return scalar_text(data) + "\n";
}

}  // namespace outpost::ctl
