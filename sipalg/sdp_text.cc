#include "sipalg/sdp_text.h"

#include <algorithm>
#include <boost/asio/ip/address_v6.hpp>

namespace outpost::sip::sdp {

std::vector<Line> split_lines(std::string_view body) {
  std::vector<Line> lines;
  lines.reserve(static_cast<size_t>(std::count(body.begin(), body.end(), '\n')) + 1);
  size_t start = 0;
  while (start < body.size()) {
    size_t lf = body.find('\n', start);
    if (lf == std::string_view::npos) {
      lines.push_back({body.substr(start), {}});
      break;
    }
    size_t end = lf > start && body[lf - 1] == '\r' ? lf - 1 : lf;
    lines.push_back({body.substr(start, end - start), body.substr(end, lf + 1 - end)});
    start = lf + 1;
  }
  return lines;
}

Fields fields(std::string_view text) {
  Fields out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    size_t j = i;
    while (j < text.size() && text[j] != ' ') ++j;
    if (j > i) out.push_back(text.substr(i, j - i));
    i = j;
  }
  return out;
}

std::optional<uint32_t> parse_number(std::string_view text, uint32_t max) {
  if (text.empty() || text.size() > 10) return std::nullopt;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > max) return std::nullopt;
  return static_cast<uint32_t>(v);
}

std::optional<IpAddress> parse_connection(std::string_view value) {
  auto f = fields(value);
  if (f.size() != 3 || f[0] != "IN" || (f[1] != "IP4" && f[1] != "IP6")) return std::nullopt;
  std::string_view text = f[2];
  if (auto slash = text.find('/'); slash != std::string_view::npos) text = text.substr(0, slash);
  auto a = parse_address(text);
  if (!a || a->is_v6() != (f[1] == "IP6")) return std::nullopt;
  return a;
}

std::string connection_value(const IpAddress& address) {
  std::string out(address.is_v6() ? "IN IP6 " : "IN IP4 ");
  append_address(out, address);
  return out;
}

IpAddress unspecified_like(const IpAddress& address) {
  if (address.is_v6()) return boost::asio::ip::address_v6::any();
  return boost::asio::ip::address_v4::any();
}

std::optional<std::string_view> attribute(const Line& line, std::string_view name) {
  if (line.type() != 'a') return std::nullopt;
  std::string_view v = line.value();
  if (v.size() < name.size() || v.substr(0, name.size()) != name) return std::nullopt;
  if (v.size() == name.size()) return std::string_view{};
  if (v[name.size()] != ':') return std::nullopt;
  return v.substr(name.size() + 1);
}

std::optional<RtpMap> parse_rtpmap(std::string_view value) {
  auto f = fields(value);
  if (f.size() != 2) return std::nullopt;
  auto pt = parse_number(f[0], 127);
  const size_t slash = f[1].find('/');
  if (!pt || slash == 0 || slash == std::string_view::npos) return std::nullopt;
  std::string_view rate = f[1].substr(slash + 1);
  rate = rate.substr(0, rate.find('/'));  // channels, for audio
  auto hz = parse_number(rate, UINT32_MAX);
  if (!hz || *hz == 0) return std::nullopt;
  return RtpMap{static_cast<uint8_t>(*pt), f[1].substr(0, slash), *hz};
}

}  // namespace outpost::sip::sdp
