// Message::serialize sends the headers outpost did not touch as received and encodes the
// rest. The risk is a comma list ("Contact: a, b" is one line of text held by its first
// member): an edit of any member must replace the whole line, so that no old text (a LAN
// address) goes out and no member is lost. Every check here is on the bytes sent.
#include <catch2/catch.hpp>

#include "sipalg/message.h"
#include "sipalg/rewrite.h"
#include "tests/unit/sipalg/sip_test_util.h"

using namespace outpost;
using namespace outpost::sip;
using namespace outpost::sip::test;

namespace {

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

// A REGISTER with two contacts on one line, an odd-looking but valid untouched header, a
// compact one and a folded one.
const std::string kTwoContacts = crlf(
    "REGISTER sip:vendor.example SIP/2.0\n"
    "Via: SIP/2.0/UDP 10.20.0.10:5062;branch=z9hG4bKreg1;rport\n"
    "Max-Forwards: 70\n"
    "From: <sip:alice@vendor.example>;tag=r1\n"
    "To: <sip:alice@vendor.example>\n"
    "Call-ID: reg-1@10.20.0.10\n"
    "CSeq: 1 REGISTER\n"
    "Contact: <sip:alice@10.20.0.10:5062>;expires=120, <sip:alice@10.20.0.11:5064>;q=0.5\n"
    "User-Agent:   Phone  X1  (build 7)\n"
    "k: path\n"
    "Subject: first\n"
    " second\n"
    "Content-Length: 0\n"
    "\n");
}  // namespace

TEST_CASE("untouched headers go out byte for byte, as received", "[sip][serialize]") {
  Message m = parse_ok(kTwoContacts);
  std::string out = m.serialize();
  CHECK(out == kTwoContacts);
}

TEST_CASE("a comma-list Contact: mapping either member re-encodes the whole line", "[sip][serialize]") {
  SECTION("only the second member changes") {
    Message m = parse_ok(kTwoContacts);
    int n = map_contacts(m, [](const std::string& uri) -> std::optional<std::string> {
      if (uri.find("10.20.0.11") == std::string::npos) return std::nullopt;
      return std::string("sip:op2@198.51.100.1:5060");
    });
    REQUIRE(n == 1);
    std::string out = m.serialize();
    CHECK(out.find("10.20.0.11") == std::string::npos);
    CHECK(out.find("<sip:op2@198.51.100.1:5060>;q=0.5") != std::string::npos);
    CHECK(out.find("<sip:alice@10.20.0.10:5062>;expires=120") != std::string::npos);
    CHECK(count(out, "Contact:") + count(out, "m:") >= 1);
    Message again = parse_ok(out);
    CHECK(again.contact_expiries(3600).size() == 2);
  }
  SECTION("only the first member changes") {
    Message m = parse_ok(kTwoContacts);
    int n = map_contacts(m, [](const std::string& uri) -> std::optional<std::string> {
      if (uri.find("10.20.0.10") == std::string::npos) return std::nullopt;
      return std::string("sip:op1@198.51.100.1:5060");
    });
    REQUIRE(n == 1);
    std::string out = m.serialize();
    CHECK(out.find("10.20.0.10:5062>") == std::string::npos);
    CHECK(out.find("<sip:op1@198.51.100.1:5060>;expires=120") != std::string::npos);
    // the untouched second member is not lost with the first one's line
    CHECK(out.find("<sip:alice@10.20.0.11:5064>;q=0.5") != std::string::npos);
    CHECK(parse_ok(out).contact_expiries(3600).size() == 2);
  }
  SECTION("a parameter of the second member changes") {
    Message m = parse_ok(kTwoContacts);
    int n = set_contact_expires(m, 3600, [](unsigned e) { return e == 3600 ? 60u : e; });
    REQUIRE(n == 1);
    std::string out = m.serialize();
    CHECK(count(out, "10.20.0.11") == 1);
    CHECK(count(out, "10.20.0.10:5062") == 2);  // the Via and the first contact
    auto expiries = parse_ok(out).contact_expiries(3600);
    REQUIRE(expiries.size() == 2);
    CHECK(expiries[0].second == 120);
    CHECK(expiries[1].second == 60);
  }
}

TEST_CASE("a comma-list Via: removing the top member keeps the others", "[sip][serialize]") {
  std::string text = crlf(
      "SIP/2.0 200 OK\n"
      "Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-op1, SIP/2.0/UDP 10.20.0.10:5062;branch=z9hG4bKdev1\n"
      "From: <sip:alice@vendor.example>;tag=a1\n"
      "To: <sip:bob@vendor.example>;tag=b1\n"
      "Call-ID: c1\n"
      "CSeq: 1 INVITE\n"
      "Content-Length: 0\n"
      "\n");
  Message m = parse_ok(text);
  m.remove_top_via();
  std::string out = m.serialize();
  CHECK(out.find("198.51.100.1") == std::string::npos);
  CHECK(headers(out, "Via") == std::vector<std::string>{"SIP/2.0/UDP 10.20.0.10:5062;branch=z9hG4bKdev1"});
}

TEST_CASE("comma-list Route and Record-Route: popping and swapping members", "[sip][serialize]") {
  Identity me = test_identity();
  std::string text = crlf(
      "INVITE sip:bob@203.0.113.5 SIP/2.0\n"
      "Via: SIP/2.0/UDP 203.0.113.5;branch=z9hG4bKv1\n"
      "Max-Forwards: 70\n"
      "Route: <sip:198.51.100.1;lr>, <sip:203.0.113.9;lr>\n"
      "Record-Route: <sip:203.0.113.9;lr>, <sip:198.51.100.1;lr>\n"
      "From: <sip:alice@vendor.example>;tag=a1\n"
      "To: <sip:bob@vendor.example>\n"
      "Call-ID: c2\n"
      "CSeq: 1 INVITE\n"
      "Content-Length: 0\n"
      "\n");
  Message m = parse_ok(text);
  CHECK(pop_own_routes(m, me) == 1);
  CHECK(swap_record_route(m, Side::uplink, Side::lan, Transport::udp, me) == 1);
  std::string out = m.serialize();
  CHECK(headers(out, "Route") == std::vector<std::string>{"<sip:203.0.113.9;lr>"});
  Message again = parse_ok(out);
  CHECK(again.header_values("Record-Route") ==
        std::vector<std::string>{"<sip:203.0.113.9;lr>", "<sip:10.20.0.1:5060;lr>"});
  CHECK(out.find("198.51.100.1") == std::string::npos);
}

TEST_CASE("edits on a message already serialised once reach the next serialisation", "[sip][serialize]") {
  Message m = parse_ok(kTwoContacts);
  std::string first = m.serialize();
  m.set_max_forwards(69);
  map_contacts(m, [](const std::string&) { return std::optional<std::string>("sip:x@198.51.100.1"); });
  std::string second = m.serialize();
  CHECK(first == kTwoContacts);
  CHECK(headers(second, "Max-Forwards") == std::vector<std::string>{"69"});
  CHECK(second.find("alice@10.20.0.1") == std::string::npos);
  CHECK(parse_ok(second).contact_expiries(3600).size() == 2);
}

TEST_CASE("LAN literals in an unknown identity header and in From are replaced", "[sip][serialize]") {
  std::string text = crlf(
      "INVITE sip:bob@vendor.example SIP/2.0\n"
      "Via: SIP/2.0/UDP 10.20.0.10:5062;branch=z9hG4bKdev1\n"
      "Max-Forwards: 70\n"
      "From: <sip:alice@10.20.0.10>;tag=a1\n"
      "To: <sip:bob@vendor.example>\n"
      "P-Asserted-Identity: <sip:alice@10.20.0.10>\n"
      "Call-ID: c3\n"
      "CSeq: 1 INVITE\n"
      "Content-Length: 0\n"
      "\n");
  Message m = parse_ok(text);
  auto lan = [](const IpAddress& a) { return a == *parse_address("10.20.0.10"); };
  CHECK(hide_lan_hosts(m, lan, "vendor.example") == 2);
  m.remove_vias();
  std::string out = m.serialize();
  CHECK(out.find("10.20.0.10") == std::string::npos);
  CHECK(headers(out, "P-Asserted-Identity") == std::vector<std::string>{"<sip:alice@vendor.example>"});
}

TEST_CASE("the lines outpost writes itself: Request-URI, Max-Forwards, Call-ID", "[sip][serialize]") {
  Message m = parse_ok(kInvite);
  m.set_request_uri("sip:bob@203.0.113.5:5080;transport=udp");
  m.set_max_forwards(69);
  m.set_call_id("op0123456789abcdef");
  m.remove_vias();
  std::string out = m.serialize();
  CHECK(out.rfind("INVITE sip:bob@203.0.113.5:5080;transport=udp SIP/2.0\r\n", 0) == 0);
  CHECK(count(out, "\r\nMax-Forwards: 69\r\n") == 1);
  CHECK(count(out, "\r\nCall-ID: op0123456789abcdef\r\n") == 1);
  CHECK(out.find("call-1@") == std::string::npos);
  Message again = parse_ok(with_vias(out, std::vector<std::string>{"SIP/2.0/UDP 198.51.100.1;branch=z9hG4bK-op1"}));
  CHECK(again.request_uri() == "sip:bob@203.0.113.5:5080;transport=udp");
  CHECK(again.call_id() == "op0123456789abcdef");
  CHECK(again.max_forwards() == 69UL);
  CHECK(again.body() == m.body());
  SECTION("a Call-ID that is not one token takes the parsed-header path, still one line") {
    m.set_call_id("a@b c");
    std::string text = m.serialize();
    CHECK(count(text, "Call-ID:") == 1);
    CHECK(text.find("op0123456789abcdef") == std::string::npos);
  }
  SECTION("a URI with white space is refused") {
    m.set_request_uri("sip:x@203.0.113.5 SIP/2.0\r\nX-Injected: 1");
    CHECK(m.serialize().find("X-Injected") == std::string::npos);
  }
}

TEST_CASE("with_vias puts the kept Via lines after the first line, in order", "[sip][serialize]") {
  std::string no_via = "SIP/2.0 200 OK\r\nCall-ID: c\r\n\r\n";
  std::vector<std::string> vias{"SIP/2.0/UDP 10.20.0.10:5062;branch=z9hG4bKa;received=10.20.0.10",
                                "SIP/2.0/TCP 10.20.0.9;branch=z9hG4bKb"};
  CHECK(with_vias(no_via, vias) ==
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.20.0.10:5062;branch=z9hG4bKa;received=10.20.0.10\r\n"
        "Via: SIP/2.0/TCP 10.20.0.9;branch=z9hG4bKb\r\nCall-ID: c\r\n\r\n");
  CHECK(with_vias(no_via, {}) == no_via);
  CHECK(with_vias("garbage", vias) == "garbage");
}

TEST_CASE("URI parts read from the parsed message equal those parsed from the text", "[sip][serialize]") {
  auto same = [](const UriParts& a, const UriParts& b) {
    return a.valid == b.valid && a.user == b.user && a.host == b.host && a.port == b.port && a.transport == b.transport;
  };
  const std::string request_uri = "sip:%6Fdabc@[2001:db8::1]:5070;transport=TCP;lr";
  std::string text = crlf(
      "INVITE " + request_uri + " SIP/2.0\n"
      "Via: SIP/2.0/UDP 203.0.113.5;branch=z9hG4bKv1\n"
      "Route: <sip:203.0.113.9:5062;transport=tls;lr>\n"
      "From: <sip:alice@vendor.example>;tag=a1\n"
      "To: <sip:bob@vendor.example>\n"
      "Call-ID: c4\n"
      "CSeq: 1 INVITE\n"
      "Content-Length: 0\n"
      "\n");
  Message m = parse_ok(text);
  UriParts r = request_uri_parts(m);
  CHECK(same(r, uri_parts(request_uri)));
  CHECK(r.user == "odabc");
  CHECK(r.host == "2001:db8::1");
  CHECK(r.port == 5070);
  CHECK(r.transport == "tcp");
  UriParts hop = next_hop_parts(m);
  CHECK(same(hop, uri_parts(std::string("sip:203.0.113.9:5062;transport=tls;lr"))));
  CHECK(hop.transport == "tls");
  m.remove_all("Route");
  CHECK(same(next_hop_parts(m), r));
}

TEST_CASE("From/To values: the received text while untouched, printed once changed or folded", "[sip][serialize]") {
  std::string text = crlf(
      "INVITE sip:bob@vendor.example SIP/2.0\n"
      "Via: SIP/2.0/UDP 10.20.0.10:5062;branch=z9hG4bKdev1\n"
      "f:   \"Alice A\"  <sip:alice@vendor.example>;tag=a1  \n"
      "To: <sip:bob@vendor.example>\n"
      " ;x=1\n"
      "Call-ID: c5\n"
      "CSeq: 1 INVITE\n"
      "Content-Length: 0\n"
      "\n");
  Message m = parse_ok(text);
  CHECK(m.from_value() == "\"Alice A\"  <sip:alice@vendor.example>;tag=a1");
  CHECK(m.to_value() == "<sip:bob@vendor.example>;x=1");  // folded: printed by sofia
  set_from(m, "<sip:carol@vendor.example>;tag=c1");
  CHECK(m.from_value() == "<sip:carol@vendor.example>;tag=c1");
}

TEST_CASE("a message with bare-LF lines goes out with CRLF on every line of its head", "[sip][serialize]") {
  std::string text =
      "OPTIONS sip:10.20.0.1 SIP/2.0\nv: SIP/2.0/UDP 10.20.0.10;branch=z9hG4bKx\nf: <sip:a@b>;tag=1\n"
      "t: <sip:c@d>\ni: abc\nCSeq: 2 OPTIONS\nl: 0\n\n";
  Message m = parse_ok(text);
  m.set_max_forwards(69);
  std::string out = m.serialize();
  size_t head_end = out.find("\r\n\r\n");
  REQUIRE(head_end != std::string::npos);
  for (size_t i = 0; i < head_end + 4; ++i)
    if (out[i] == '\n') CHECK(out[i - 1] == '\r');
  CHECK(parse_ok(out).call_id() == "abc");
}

TEST_CASE("the head scan: a bare-CR or a last bare-LF line re-encodes; a body's LFs and a leading CRLF do not",
          "[sip][serialize]") {
  auto crlf_on_every_head_line = [](const std::string& out) {
    size_t head_end = out.find("\r\n\r\n");
    if (head_end == std::string::npos) return false;
    for (size_t i = 0; i < head_end + 4; ++i) {
      if (out[i] == '\n' && (i == 0 || out[i - 1] != '\r')) return false;
      if (out[i] == '\r' && (i + 1 >= out.size() || out[i + 1] != '\n')) return false;
    }
    return true;
  };
  const std::string head = "OPTIONS sip:10.20.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.20.0.10;branch=z9hG4bKx\r\n"
                           "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: abc\r\nCSeq: 2 OPTIONS\r\n";
  SECTION("a header line ends in a bare CR") {
    Message m = parse_ok(head + "Subject: one\rContent-Length: 0\r\n\r\n");
    m.set_max_forwards(69);
    CHECK(crlf_on_every_head_line(m.serialize()));
  }
  SECTION("the last header line ends in a bare LF") {
    Message m = parse_ok(head + "Content-Length: 0\n\r\n");
    m.set_max_forwards(69);
    CHECK(crlf_on_every_head_line(m.serialize()));
  }
  SECTION("bare LFs in the body leave the head as received") {
    const std::string body = "v=0\no=- 1 1 IN IP4 192.0.2.1\n";
    const std::string text = head + "Subject:   spaced  \r\nContent-Type: application/sdp\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\n\r\n" + body;
    Message m = parse_ok(text);
    CHECK(m.serialize() == text);  // received text kept: odd spacing and the body's LFs untouched
  }
}
