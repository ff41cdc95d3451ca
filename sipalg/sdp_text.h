#pragma once
// parse: SDP (RFC 8866) as the SDP rewriter reads it: a list of `x=value` lines that keep
// their own line endings, so that every line the rewriter does not change goes out
// byte-identical. Only what the relay needs is decoded (o=, c=, m=, a=rtcp, a=candidate,
// a=rtpmap).
#include <boost/container/small_vector.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.h"

namespace outpost::sip::sdp {

struct Line {
  std::string_view text;  // without the line ending
  std::string_view eol;   // "\r\n", "\n" or "" (the last line may have none)
  char type() const { return text.size() >= 2 && text[1] == '=' ? text[0] : '\0'; }
  std::string_view value() const { return text.size() >= 2 ? text.substr(2) : std::string_view{}; }
};

// Splits at LF (a CR before it belongs to the ending). The views point into `body`.
std::vector<Line> split_lines(std::string_view body);

// Space-separated fields, as SDP writes them (runs of spaces count as one separator). The
// lines read (c=, o=, m=, a=rtcp, a=candidate) have at most a dozen: no heap allocation.
using Fields = boost::container::small_vector<std::string_view, 12>;
Fields fields(std::string_view text);

// A decimal number no larger than `max` (no sign, no spaces, at most 10 digits).
std::optional<uint32_t> parse_number(std::string_view text, uint32_t max);

// "IN IP4 192.0.2.1" / "IN IP6 2001:db8::1" (a multicast "/ttl" suffix is ignored).
// nullopt for anything else, FQDNs included: the relay needs an address.
std::optional<IpAddress> parse_connection(std::string_view value);

// "IN IP4 <address>" or "IN IP6 <address>": the family follows the address.
std::string connection_value(const IpAddress& address);
// The unspecified address of the same family as `address` ("0.0.0.0" or "::").
IpAddress unspecified_like(const IpAddress& address);

// Attribute `a=<name>` or `a=<name>:<value>`: the value ("" for a flag); nullopt if the
// line is not that attribute.
std::optional<std::string_view> attribute(const Line& line, std::string_view name);

// The value of `a=rtpmap:<payload type> <encoding name>/<clock rate>[/<channels>]` (RFC 8866
// 6.6). The name is as written (encoding names are case-insensitive: compare accordingly).
// nullopt without a clock rate, or a payload type above 127.
struct RtpMap {
  uint8_t payload_type = 0;
  std::string_view encoding;
  uint32_t clock_rate = 0;
};
std::optional<RtpMap> parse_rtpmap(std::string_view value);

}  // namespace outpost::sip::sdp
