#include "dataplane/client_hello.h"

#include <vector>

namespace outpost::dataplane {
namespace {

constexpr uint8_t kHandshakeRecord = 22;
constexpr uint8_t kClientHelloType = 1;
constexpr uint16_t kServerNameExtension = 0;
constexpr size_t kMaxRecordFragment = 16384;  // RFC 8446 5.1

// A bounds-checked reader over the ClientHello body.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> b) : b_(b) {}
  bool u8(size_t& v) { return take(1, v); }
  bool u16(size_t& v) { return take(2, v); }
  bool bytes(size_t n, std::span<const uint8_t>& out) {
    if (b_.size() - pos_ < n) return false;
    out = b_.subspan(pos_, n);
    pos_ += n;
    return true;
  }
  bool skip(size_t n) {
    std::span<const uint8_t> unused;
    return bytes(n, unused);
  }
  size_t left() const { return b_.size() - pos_; }

 private:
  bool take(size_t n, size_t& v) {
    if (b_.size() - pos_ < n) return false;
    v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | b_[pos_++];
    return true;
  }
  std::span<const uint8_t> b_;
  size_t pos_ = 0;
};

ClientHello malformed(const char* why) { return {HelloStatus::malformed, std::nullopt, why}; }

// RFC 6066 3: server_name_list of (name_type, opaque name<1..2^16-1>); the first host_name.
ClientHello parse_server_name(std::span<const uint8_t> ext, ClientHello out) {
  Reader r(ext);
  size_t list_len = 0;
  if (!r.u16(list_len) || list_len != r.left() || list_len == 0) return malformed("server_name list length");
  while (r.left() > 0) {
    size_t type = 0, len = 0;
    std::span<const uint8_t> name;
    if (!r.u8(type) || !r.u16(len) || !r.bytes(len, name)) return malformed("server_name entry");
    if (len == 0) return malformed("empty server name");
    if (type == 0 && !out.sni) out.sni = std::string(name.begin(), name.end());
  }
  if (!out.sni) return malformed("server_name without host_name");
  return out;
}

ClientHello parse_body(std::span<const uint8_t> body) {
  Reader r(body);
  size_t v = 0, len = 0;
  if (!r.u16(v) || (v >> 8) != 3) return malformed("client version");
  if (!r.skip(32)) return malformed("random");
  if (!r.u8(len) || len > 32 || !r.skip(len)) return malformed("session id");
  if (!r.u16(len) || len < 2 || len % 2 || !r.skip(len)) return malformed("cipher suites");
  if (!r.u8(len) || len < 1 || !r.skip(len)) return malformed("compression methods");
  ClientHello out{HelloStatus::ok, std::nullopt, ""};
  if (r.left() == 0) return out;  // no extensions at all (old clients): no SNI
  if (!r.u16(len) || len != r.left()) return malformed("extensions length");
  bool seen_sni = false;
  while (r.left() > 0) {
    size_t type = 0;
    std::span<const uint8_t> ext;
    if (!r.u16(type) || !r.u16(len) || !r.bytes(len, ext)) return malformed("extension");
    if (type != kServerNameExtension) continue;
    if (seen_sni) return malformed("two server_name extensions");
    seen_sni = true;
    out = parse_server_name(ext, out);
    if (out.status != HelloStatus::ok) return out;
  }
  return out;
}

}  // namespace

ClientHello parse_client_hello(std::span<const uint8_t> bytes) {
  // Decide "not TLS" from the first bytes, before waiting for more.
  if (bytes.empty()) return {};
  if (bytes[0] != kHandshakeRecord) return {HelloStatus::not_tls, std::nullopt, "not a handshake record"};
  if (bytes.size() >= 2 && bytes[1] != 3) return {HelloStatus::not_tls, std::nullopt, "record version"};
  if (bytes.size() >= 3 && bytes[2] > 4) return {HelloStatus::not_tls, std::nullopt, "record version"};

  // Gather the handshake message from as many records as it takes.
  std::vector<uint8_t> message;
  size_t pos = 0;
  while (true) {
    if (message.size() >= 4) {
      if (message[0] != kClientHelloType) return malformed("first handshake message is not a ClientHello");
      size_t len = (size_t(message[1]) << 16) | (size_t(message[2]) << 8) | message[3];
      if (len > kMaxClientHello) return {HelloStatus::too_large, std::nullopt, "ClientHello too large"};
      if (message.size() >= 4 + len) return parse_body(std::span(message).subspan(4, len));
    }
    if (bytes.size() - pos < 5) break;
    if (bytes[pos] != kHandshakeRecord) return malformed("non-handshake record inside the ClientHello");
    if (bytes[pos + 1] != 3) return malformed("record version");
    size_t rec_len = (size_t(bytes[pos + 3]) << 8) | bytes[pos + 4];
    if (rec_len == 0 || rec_len > kMaxRecordFragment) return malformed("record length");
    if (bytes.size() - pos - 5 < rec_len) break;
    message.insert(message.end(), bytes.begin() + long(pos + 5), bytes.begin() + long(pos + 5 + rec_len));
    pos += 5 + rec_len;
  }
  if (bytes.size() >= kMaxHelloBuffer) return {HelloStatus::too_large, std::nullopt, "ClientHello too large"};
  return {};
}

const char* to_string(HelloStatus s) {
  switch (s) {
    case HelloStatus::need_more: return "need_more";
    case HelloStatus::ok: return "ok";
    case HelloStatus::not_tls: return "not_tls";
    case HelloStatus::malformed: return "malformed";
    case HelloStatus::too_large: return "too_large";
  }
  return "?";
}

}  // namespace outpost::dataplane
