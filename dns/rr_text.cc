#include "dns/rr_text.h"

#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/ip/address_v6.hpp>
#include <cstdio>

namespace outpost::dns {
namespace {

std::string hex(const uint8_t* p, size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) out += digits[p[i] >> 4], out += digits[p[i] & 15];
  return out;
}

std::string fqdn(const WireName& n) { return n.length() == 1 ? "." : n.to_text() + "."; }

std::string v4_text(const uint8_t* p) {
  return boost::asio::ip::address_v4({p[0], p[1], p[2], p[3]}).to_string();
}

std::string v6_text(const uint8_t* p) {
  boost::asio::ip::address_v6::bytes_type b;
  std::copy_n(p, 16, b.begin());
  return boost::asio::ip::address_v6(b).to_string();
}

// <character-string>s from pos to end, quoted.
bool strings(std::span<const uint8_t> msg, size_t pos, size_t end, std::string& out) {
  while (pos < end) {
    size_t len = msg[pos++];
    if (end - pos < len) return false;
    out += out.empty() ? "\"" : " \"";
    for (size_t i = 0; i < len; ++i) {
      uint8_t c = msg[pos + i];
      if (c == '"' || c == '\\') out += '\\', out += static_cast<char>(c);
      else if (c >= 0x20 && c < 0x7F) out += static_cast<char>(c);
      else {
        char buf[5];
        std::snprintf(buf, sizeof buf, "\\%03u", c);
        out += buf;
      }
    }
    out += '"';
    pos += len;
  }
  return true;
}

std::string svcb_text(std::span<const uint8_t> msg, const RecordView& rr) {
  size_t pos = rr.rdata_offset;
  if (rr.rdlength < 3) return {};
  std::string out = std::to_string(get16(&msg[pos])) + " ";
  pos += 2;
  WireName target;
  if (read_name(msg.first(rr.end), pos, target, false) != WireError::none) return {};
  out += fqdn(target);
  while (pos + 4 <= rr.end) {
    uint16_t key = get16(&msg[pos]), len = get16(&msg[pos + 2]);
    pos += 4;
    if (rr.end - pos < len) return {};
    const uint8_t* v = &msg[pos];
    std::string value;
    if (key == 1) {  // alpn
      for (size_t i = 0; i < len;) {
        size_t l = v[i++];
        if (len - i < l) return {};
        value += (value.empty() ? "" : ",") + std::string(reinterpret_cast<const char*>(v + i), l);
        i += l;
      }
      out += " alpn=" + value;
    } else if (key == 3 && len == 2) {
      out += " port=" + std::to_string(get16(v));
    } else if (key == 4) {
      for (size_t i = 0; i + 4 <= len; i += 4) value += (value.empty() ? "" : ",") + v4_text(v + i);
      out += " ipv4hint=" + value;
    } else if (key == 6) {
      for (size_t i = 0; i + 16 <= len; i += 16) value += (value.empty() ? "" : ",") + v6_text(v + i);
      out += " ipv6hint=" + value;
    } else if (key == 2 && len == 0) {
      out += " no-default-alpn";
    } else {
      out += " key" + std::to_string(key) + "=" + hex(v, len);
    }
    pos += len;
  }
  return out;
}

}  // namespace

std::string rdata_text(std::span<const uint8_t> msg, const RecordView& rr) {
  const uint8_t* p = msg.data() + rr.rdata_offset;
  size_t pos = rr.rdata_offset;
  WireName a, b;
  auto name = [&](WireName& n) { return read_name(msg, pos, n) == WireError::none && pos <= rr.end; };
  switch (rr.type) {
    case qtype::A:
      if (rr.rdlength == 4) return v4_text(p);
      break;
    case qtype::AAAA:
      if (rr.rdlength == 16) return v6_text(p);
      break;
    case qtype::NS: case qtype::CNAME: case qtype::PTR: case qtype::DNAME:
      if (name(a)) return fqdn(a);
      break;
    case qtype::MX:
      if (rr.rdlength > 2 && (pos += 2, name(a))) return std::to_string(get16(p)) + " " + fqdn(a);
      break;
    case qtype::SOA:
      if (name(a) && name(b) && rr.end - pos == 20) {
        std::string out = fqdn(a) + " " + fqdn(b);
        for (int i = 0; i < 5; ++i) out += " " + std::to_string(get32(&msg[pos + 4 * static_cast<size_t>(i)]));
        return out;
      }
      break;
    case qtype::SRV:
      if (rr.rdlength > 6 && (pos += 6, name(a)))
        return std::to_string(get16(p)) + " " + std::to_string(get16(p + 2)) + " " + std::to_string(get16(p + 4)) +
               " " + fqdn(a);
      break;
    case qtype::TXT: case qtype::HINFO: {
      std::string out;
      if (strings(msg, rr.rdata_offset, rr.end, out)) return out;
      break;
    }
    case qtype::SVCB: case qtype::HTTPS: {
      auto out = svcb_text(msg, rr);
      if (!out.empty()) return out;
      break;
    }
    default: break;
  }
  return "\\# " + std::to_string(rr.rdlength) + (rr.rdlength ? " " + hex(p, rr.rdlength) : "");
}

std::string flags_text(uint16_t flags) {
  std::string out;
  static constexpr std::pair<uint16_t, const char*> names[] = {{flag::qr, "qr"}, {flag::aa, "aa"}, {flag::tc, "tc"},
                                                               {flag::rd, "rd"}, {flag::ra, "ra"}, {flag::ad, "ad"},
                                                               {flag::cd, "cd"}};
  for (auto [f, n] : names)
    if (flags & f) out += (out.empty() ? "" : " ") + std::string(n);
  return out;
}

nlohmann::json message_json(std::span<const uint8_t> msg) {
  RecordReader r;
  nlohmann::json j = nlohmann::json::object();
  if (r.open(msg) != WireError::none) {
    j["error"] = "unparseable reply";
    return j;
  }
  unsigned rcode = r.header().rcode();
  nlohmann::json sections[3] = {nlohmann::json::array(), nlohmann::json::array(), nlohmann::json::array()};
  RecordView rr;
  while (r.next(rr)) {
    if (rr.type == qtype::OPT) {
      rcode |= (rr.ttl >> 24) << 4;
      continue;
    }
    sections[static_cast<int>(rr.section)].push_back(
        {{"name", fqdn(rr.owner)}, {"ttl", rr.ttl}, {"type", type_text(rr.type)}, {"data", rdata_text(msg, rr)}});
  }
  j["rcode"] = rcode_text(rcode);
  j["flags"] = flags_text(r.header().flags);
  if (r.has_question()) j["question"] = fqdn(r.qname()) + " " + type_text(r.qtype());
  j["answer"] = sections[0];
  j["authority"] = sections[1];
  j["additional"] = sections[2];
  return j;
}

}  // namespace outpost::dns
