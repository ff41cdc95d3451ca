#include "sipalg/framing.h"

#include <cctype>
#include <string>

namespace outpost::sip {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

Frame next_frame(std::string_view buffer, size_t max_bytes) {
  if (buffer.starts_with("\r\n\r\n")) return {Frame::ping, 4};
  if (buffer.starts_with("\r\n")) return buffer.size() < 4 && std::string_view("\r\n\r\n").starts_with(buffer)
                                             ? Frame{Frame::need_more, 0}
                                             : Frame{Frame::skip, 2};
  if (buffer.starts_with("\n")) return {Frame::skip, 1};
  size_t end = buffer.find("\r\n\r\n");
  size_t sep = 4;
  if (size_t lf = buffer.find("\n\n"); lf != std::string_view::npos && (end == std::string_view::npos || lf < end))
    end = lf, sep = 2;
  if (end == std::string_view::npos) {
    if (buffer.size() > max_bytes) return {Frame::error, 0};
    return {Frame::need_more, 0};
  }
  std::string_view head = buffer.substr(0, end);
  long length = -1;
  size_t pos = 0;
  while (pos < head.size()) {
    size_t eol = head.find('\n', pos);
    std::string_view line = head.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    pos = eol == std::string_view::npos ? head.size() : eol + 1;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = trim(line.substr(0, colon));
    if (!iequals(name, "Content-Length") && !iequals(name, "l")) continue;
    std::string_view value = trim(line.substr(colon + 1));
    if (value.empty() || value.size() > 9) return {Frame::error, 0};
    long v = 0;
    for (char c : value) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return {Frame::error, 0};
      v = v * 10 + (c - '0');
    }
    if (length >= 0 && length != v) return {Frame::error, 0};
    length = v;
  }
  if (length < 0) return {Frame::error, 0};
  size_t total = end + sep + static_cast<size_t>(length);
  if (total > max_bytes) return {Frame::error, 0};
  if (buffer.size() < total) return {Frame::need_more, 0};
  return {Frame::message, total};
}

}  // namespace outpost::sip
