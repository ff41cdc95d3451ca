#pragma once
// The start of a plain HTTP/1.x request on port 80: enough to find the Host the browser
// wants (and the target, for a redirect to https). A pure function over the bytes so far.
#include <optional>
#include <string>
#include <string_view>

namespace outpost::dataplane {

inline constexpr size_t kMaxHttpHead = 16384;

enum class HttpHeadStatus { need_more, ok, malformed, too_large };

struct HttpHead {
  HttpHeadStatus status = HttpHeadStatus::need_more;
  std::string method;
  std::string target;               // "/path?query" as sent
  std::optional<std::string> host;  // Host header without the port, as sent
  const char* error = "";
};

HttpHead parse_http_head(std::string_view bytes);

}  // namespace outpost::dataplane
