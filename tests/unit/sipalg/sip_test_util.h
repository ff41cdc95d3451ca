#pragma once
// Shared pieces of the sipalg unit tests: sample messages, a Sender that records what the
// proxy sends, and header extraction from raw text.
#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <string>
#include <variant>
#include <vector>

#include "sipalg/flow.h"
#include "sipalg/message.h"
#include "sipalg/transport.h"

namespace outpost::sip::test {

// Runs the loop until `done` holds or 1.5 s have passed (a failing test stops there).
template <typename Pred>
bool run_until(boost::asio::io_context& io, Pred done) {
  using namespace std::chrono_literals;
  auto deadline = std::chrono::steady_clock::now() + 1500ms;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    io.run_for(5ms);
  }
  return true;
}

inline std::string crlf(std::string s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) out += '\r';
    out += s[i];
  }
  return out;
}

inline const std::string kInvite = crlf(
    "INVITE sip:bob@vendor.example SIP/2.0\n"
    "Via: SIP/2.0/UDP 10.20.0.10:5062;branch=z9hG4bKdev1;rport\n"
    "Max-Forwards: 70\n"
    "From: <sip:alice@vendor.example>;tag=a1\n"
    "To: <sip:bob@vendor.example>\n"
    "Call-ID: call-1@10.20.0.10\n"
    "CSeq: 1 INVITE\n"
    "Contact: <sip:alice@10.20.0.10:5062>\n"
    "Content-Type: application/sdp\n"
    "Content-Length: 65\n"
    "\n"
    "v=0\n"
    "o=- 1 1 IN IP4 10.20.0.10\n"
    "s=-\n"
    "c=IN IP4 10.20.0.10\n"
    "t=0 0\n");

inline const std::string kRegister = crlf(
    "REGISTER sip:vendor.example SIP/2.0\n"
    "Via: SIP/2.0/UDP 10.20.0.10:5062;branch=z9hG4bKreg1;rport\n"
    "Max-Forwards: 70\n"
    "From: <sip:alice@vendor.example>;tag=r1\n"
    "To: <sip:alice@vendor.example>\n"
    "Call-ID: reg-1@10.20.0.10\n"
    "CSeq: 1 REGISTER\n"
    "Contact: <sip:alice@10.20.0.10:5062>;expires=120\n"
    "Content-Length: 0\n"
    "\n");

// outpost's own addresses in these tests: LAN 10.20.0.1, uplink 198.51.100.1 (the devices
// are in 10.20.0.0/24, the vendor in 203.0.113.0/24).
inline Identity test_identity() {
  Identity me;
  me.lan = *parse_address("10.20.0.1");
  me.uplink = *parse_address("198.51.100.1");
  return me;
}

// A message the test expects to parse; fails the test with the parser's reason otherwise.
inline Message parse_ok(const std::string& text) {
  auto r = Message::parse(text);
  if (auto* e = std::get_if<ParseError>(&r)) FAIL("parse failed: " << e->reason);
  return std::move(std::get<Message>(r));
}

struct Sent {
  Flow to;
  std::string bytes;
};

class RecordingSender final : public Sender {
 public:
  bool send(const Flow& to, const std::string& bytes) override {
    sent.push_back({to, bytes});
    return true;
  }
  std::vector<Sent> sent;
  std::vector<Sent> take() {
    auto out = std::move(sent);
    sent.clear();
    return out;
  }
};

// Values of header `name` (full name, case-sensitive as outpost and sofia write them).
inline std::vector<std::string> headers(const std::string& msg, const std::string& name) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < msg.size()) {
    size_t eol = msg.find("\r\n", pos);
    if (eol == std::string::npos || eol == pos) break;
    std::string line = msg.substr(pos, eol - pos);
    if (line.rfind(name + ":", 0) == 0) {
      std::string v = line.substr(name.size() + 1);
      while (!v.empty() && v.front() == ' ') v.erase(0, 1);
      out.push_back(v);
    }
    pos = eol + 2;
  }
  return out;
}

inline std::string first_line(const std::string& msg) { return msg.substr(0, msg.find("\r\n")); }

// A response to `request` (as the vendor or a device would build it).
inline std::string respond(const std::string& request, int code, const std::string& reason, const std::string& extra = "",
                           const std::string& to_tag = "v1") {
  std::string r = "SIP/2.0 " + std::to_string(code) + " " + reason + "\r\n";
  for (const auto& v : headers(request, "Via")) r += "Via: " + v + "\r\n";
  r += "From: " + headers(request, "From").at(0) + "\r\n";
  std::string to = headers(request, "To").at(0);
  if (to.find("tag=") == std::string::npos && code > 100) to += ";tag=" + to_tag;
  r += "To: " + to + "\r\nCall-ID: " + headers(request, "Call-ID").at(0) + "\r\nCSeq: " + headers(request, "CSeq").at(0) +
       "\r\n" + extra + "Content-Length: 0\r\n\r\n";
  return r;
}

// The URI inside a message's first Contact.
inline std::string contact_uri(const std::string& message) {
  std::string c = headers(message, "Contact").at(0);
  return c.substr(c.find('<') + 1, c.find('>') - c.find('<') - 1);
}

}  // namespace outpost::sip::test
