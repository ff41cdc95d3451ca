#pragma once
// Private to sipalg/: the text of the tokens outpost invents (Via branches, tags, hidden
// Call-IDs, contact and dialog tokens) and of the numbers it writes into messages and call
// records. Several are made per proxied message, so they are written digit by digit:
// snprintf was ~2 k instructions each.
#include <array>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace outpost::sip {

// FNV-1a 64: deterministic, so a token survives the loss of the table that made it.
inline constexpr uint64_t kFnvOffset = 1469598103934665603ULL;
inline uint64_t fnv1a(std::string_view text, uint64_t h = kFnvOffset) {
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ULL;
  return h;
}
inline uint64_t fnv1a_byte(uint64_t h, unsigned char c) { return (h ^ c) * 1099511628211ULL; }

// `digits` lower-case hex digits of v, zero-padded ("%016llx" for 16).
inline void append_hex(std::string& out, uint64_t v, int digits) {
  char text[16];
  for (int i = digits - 1; i >= 0; --i, v >>= 4) text[i] = "0123456789abcdef"[v & 0xf];
  out.append(text, static_cast<size_t>(digits));
}

// Hex without padding ("%llx").
inline void append_hex(std::string& out, uint64_t v) {
  char text[16];
  out.append(text, std::to_chars(text, text + sizeof text, v, 16).ptr);
}

// Whether `text` holds any byte of `set`. string_view::find_first_of calls memchr on the set
// once per character of the text (~40 instructions each); this is one table look-up each.
inline bool contains_any(std::string_view text, std::string_view set) {
  std::array<bool, 256> in{};
  for (unsigned char c : set) in[c] = true;
  for (unsigned char c : text)
    if (in[c]) return true;
  return false;
}

template <class Integer>
void append_decimal(std::string& out, Integer v) {
  char text[24];
  out.append(text, std::to_chars(text, text + sizeof text, v).ptr);
}

}  // namespace outpost::sip
