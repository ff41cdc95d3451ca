#include "dataplane/http_head.h"

#include <algorithm>

namespace outpost::dataplane {
namespace {

bool is_token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

HttpHead malformed(const char* why) {
  HttpHead h;
  h.status = HttpHeadStatus::malformed;
  h.error = why;
  return h;
}

// "host", "host:80", "[2001:db8::1]:80" -> the host part; nullopt if the port is not digits.
std::optional<std::string> host_without_port(std::string_view v) {
  if (v.empty()) return std::nullopt;
  size_t end = v.size();
  if (v.front() == '[') {
    end = v.find(']');
    if (end == std::string_view::npos) return std::nullopt;
    ++end;
  } else if (auto colon = v.rfind(':'); colon != std::string_view::npos) {
    end = colon;
  }
  std::string_view port = v.substr(end);
  if (!port.empty()) {
    if (port.front() != ':' || port.size() < 2 || port.size() > 6) return std::nullopt;
    if (!std::all_of(port.begin() + 1, port.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  }
  if (end == 0) return std::nullopt;
  return std::string(v.substr(0, end));
}

}  // namespace

HttpHead parse_http_head(std::string_view bytes) {
  // Judge the method as soon as it arrives, so garbage does not wait for the deadline.
  size_t method_end = 0;
  while (method_end < bytes.size() && is_token_char(bytes[method_end])) ++method_end;
  if (method_end < bytes.size() && (bytes[method_end] != ' ' || method_end == 0)) return malformed("request method");
  if (method_end > 16) return malformed("request method");

  size_t head_end = bytes.find("\r\n\r\n");
  if (head_end == std::string_view::npos) {
    if (bytes.size() >= kMaxHttpHead) {
      HttpHead h;
      h.status = HttpHeadStatus::too_large;
      h.error = "request head too large";
      return h;
    }
    return {};
  }
  std::string_view head = bytes.substr(0, head_end + 2);
  size_t line_end = head.find("\r\n");
  std::string_view request_line = head.substr(0, line_end);
  HttpHead out;
  out.method = std::string(request_line.substr(0, method_end));
  std::string_view rest = request_line.substr(method_end + 1);
  size_t sp = rest.find(' ');
  if (sp == std::string_view::npos || sp == 0) return malformed("request target");
  out.target = std::string(rest.substr(0, sp));
  std::string_view version = rest.substr(sp + 1);
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return malformed("HTTP version");
  if (std::any_of(out.target.begin(), out.target.end(), [](char c) { return c <= ' ' || c == 0x7f; }))
    return malformed("request target");

  size_t pos = line_end + 2;
  while (pos < head.size()) {
    size_t eol = head.find("\r\n", pos);
    std::string_view line = head.substr(pos, eol - pos);
    pos = eol + 2;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return malformed("header line");
    std::string_view name = line.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), is_token_char)) return malformed("header name");
    if (!iequals(name, "host")) continue;
    if (out.host) return malformed("two Host headers");
    auto host = host_without_port(trim(line.substr(colon + 1)));
    if (!host) return malformed("Host header");
    out.host = std::move(*host);
  }
  // An absolute-form target names the host too (RFC 9112 3.2.2); Host still must agree,
  // which the decision does not need: the Host header, when present, is what we route on.
  out.status = HttpHeadStatus::ok;
  return out;
}

}  // namespace outpost::dataplane
