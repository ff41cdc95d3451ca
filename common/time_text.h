#pragma once
// Wall-clock times as text, ISO 8601 in UTC ("2026-11-18T11:06:40Z"): what call records,
// `status` and reload reports print. Appending form for lines built in one string (call
// records: one per ended call, no strftime per field).
#include <cstdint>
#include <string>

namespace outpost {

// Appends `t` (seconds since the epoch); nothing for t <= 0 (a time that never happened).
void append_iso_utc(std::string& out, int64_t t);
inline std::string iso_utc(int64_t t) {
  std::string s;
  append_iso_utc(s, t);
  return s;
}

}  // namespace outpost
