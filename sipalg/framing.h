#pragma once
// receive, TCP: where one SIP message ends in a byte stream (RFC 3261 18.3: by
// Content-Length, which is mandatory on streams), and RFC 5626 CRLF keep-alives.
#include <cstddef>
#include <string_view>

namespace outpost::sip {

struct Frame {
  enum Kind { need_more, message, ping, skip, error } kind = need_more;
  size_t length = 0;  // bytes to consume from the front of the buffer
};

// Looks at the front of `buffer`: a double CRLF is a ping (answer with one CRLF), a lone
// CRLF is skipped, else a message of `length` bytes, or need_more, or error (no
// Content-Length, a bad one, or more than max_bytes).
Frame next_frame(std::string_view buffer, size_t max_bytes);

}  // namespace outpost::sip
