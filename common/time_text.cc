#include "common/time_text.h"

#include <charconv>
#include <ctime>

namespace outpost {
namespace {
void append_two_digits(std::string& out, int v) {
  out += static_cast<char>('0' + v / 10 % 10);
  out += static_cast<char>('0' + v % 10);
}
}  // namespace

void append_iso_utc(std::string& out, int64_t t) {
  if (t <= 0) return;
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char year[12];
  auto r = std::to_chars(year, year + sizeof year, tm.tm_year + 1900);
  out.append(year, r.ptr);
  out += '-';
  append_two_digits(out, tm.tm_mon + 1);
  out += '-';
  append_two_digits(out, tm.tm_mday);
  out += 'T';
  append_two_digits(out, tm.tm_hour);
  out += ':';
  append_two_digits(out, tm.tm_min);
  out += ':';
  append_two_digits(out, tm.tm_sec);
  out += 'Z';
}

}  // namespace outpost
