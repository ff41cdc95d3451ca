#pragma once
// Reading a TLS ClientHello without decrypting anything: a pure function over the bytes a
// client has sent so far. The hello may span several TCP segments and several TLS
// records; the caller appends what arrives and calls again while the answer is need_more.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace outpost::dataplane {

// The largest ClientHello handshake message accepted (post-quantum key shares fit easily).
inline constexpr size_t kMaxClientHello = 16384;
// What the caller may buffer while waiting: the message plus the record headers around it.
inline constexpr size_t kMaxHelloBuffer = kMaxClientHello + 1024;

enum class HelloStatus {
  need_more,  // a valid prefix of a ClientHello: read more
  ok,         // a complete ClientHello; sni set if it carries a host_name
  not_tls,    // does not start like a TLS handshake record (TURN, HTTP, garbage)
  malformed,  // started like TLS, then broke the format
  too_large,  // a ClientHello longer than kMaxClientHello
};

struct ClientHello {
  HelloStatus status = HelloStatus::need_more;
  std::optional<std::string> sni;  // the host_name bytes as sent (not validated here)
  const char* error = "";          // why malformed, for logs
};

ClientHello parse_client_hello(std::span<const uint8_t> bytes);

const char* to_string(HelloStatus s);

}  // namespace outpost::dataplane
