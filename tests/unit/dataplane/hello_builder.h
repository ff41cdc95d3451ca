#pragma once
// Builds TLS ClientHellos byte by byte for the parser tests: a valid skeleton whose parts
// a test can change, split into records of any size.
#include <cstdint>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

namespace outpost::dataplane::test {

using Bytes = std::vector<uint8_t>;

inline void put16(Bytes& b, size_t v) {
  b.push_back(uint8_t(v >> 8));
  b.push_back(uint8_t(v));
}

inline Bytes extension(uint16_t type, const Bytes& body) {
  Bytes e;
  put16(e, type);
  put16(e, body.size());
  e.insert(e.end(), body.begin(), body.end());
  return e;
}

inline Bytes sni_extension(const std::string& name, uint8_t name_type = 0) {
  Bytes entry{name_type};
  put16(entry, name.size());
  entry.insert(entry.end(), name.begin(), name.end());
  Bytes list;
  put16(list, entry.size());
  list.insert(list.end(), entry.begin(), entry.end());
  return extension(0, list);
}

// The ClientHello body (after the 4-byte handshake header).
inline Bytes hello_body(const std::vector<Bytes>& extensions, bool with_extensions_block = true) {
  Bytes b{3, 3};
  b.insert(b.end(), 32, 0xab);  // random
  b.push_back(32);              // session id
  b.insert(b.end(), 32, 0xcd);
  put16(b, 4);  // two cipher suites
  b.insert(b.end(), {0x13, 0x01, 0xc0, 0x2f});
  b.push_back(1);  // compression: null
  b.push_back(0);
  if (!with_extensions_block) return b;
  Bytes ext;
  for (const auto& e : extensions) ext.insert(ext.end(), e.begin(), e.end());
  put16(b, ext.size());
  b.insert(b.end(), ext.begin(), ext.end());
  return b;
}

inline Bytes handshake(const Bytes& body, uint8_t type = 1) {
  Bytes h{type, uint8_t(body.size() >> 16), uint8_t(body.size() >> 8), uint8_t(body.size())};
  h.insert(h.end(), body.begin(), body.end());
  return h;
}

// Wraps a handshake message in records of at most `record_size` bytes of fragment.
inline Bytes records(const Bytes& message, size_t record_size = 16384, uint8_t type = 22) {
  Bytes out;
  for (size_t pos = 0; pos < message.size(); pos += record_size) {
    size_t n = std::min(record_size, message.size() - pos);
    out.insert(out.end(), {type, 3, 1});
    put16(out, n);
    out.insert(out.end(), message.begin() + long(pos), message.begin() + long(pos + n));
  }
  return out;
}

inline Bytes client_hello(const std::string& sni, size_t record_size = 16384) {
  return records(handshake(hello_body({extension(10, {0, 2, 0, 29}), sni_extension(sni), extension(43, {2, 3, 4})})),
                 record_size);
}

inline Bytes read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

}  // namespace outpost::dataplane::test
