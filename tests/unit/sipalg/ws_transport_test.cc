// SIP over WebSocket (RFC 7118): the subprotocol offer, what one WebSocket message may
// carry, the WSS Via/Record-Route/Contact outpost writes, and a browser's registration and
// call routed back over its own connection (flow routing for `.invalid` contacts).
#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>

#include "common/metrics.h"
#include "sipalg/proxy_core.h"
#include "sipalg/rewrite.h"
#include "sipalg/ws_transport.h"
#include "tests/unit/sipalg/sip_test_util.h"

using namespace outpost;
using namespace outpost::sip;
using namespace outpost::sip::test;

namespace {

Endpoint ep(const char* text) { return *parse_endpoint(text); }

Identity identity() {
  Identity me = test_identity();
  me.lan_wss_port = 443;
  return me;
}

// A browser (JsSIP) on connection #7: `.invalid` hosts in Via and Contact.
const Flow kBrowser{Side::lan, Transport::wss, ep("10.20.0.10:40001"), 7};
const Flow kVendor{Side::uplink, Transport::udp, ep("203.0.113.10:5060"), 0};

const std::string kBrowserRegister = crlf(
    "REGISTER sip:vendor.example SIP/2.0\n"
    "Via: SIP/2.0/WSS k2h1m3n4p5q6.invalid;branch=z9hG4bK1234567\n"
    "Max-Forwards: 69\n"
    "To: <sip:alice@vendor.example>\n"
    "From: <sip:alice@vendor.example>;tag=jsr1\n"
    "Call-ID: 5f3a2b1c9d8e7f6a5b4c3d2e\n"
    "CSeq: 1 REGISTER\n"
    "Contact: <sip:x7y8z9a0@k2h1m3n4p5q6.invalid;transport=ws>;+sip.ice;reg-id=1;"
    "+sip.instance=\"<urn:uuid:0b8c9e2a-1111-4a2b-9c3d-123456789abc>\";expires=600\n"
    "Expires: 600\n"
    "Allow: INVITE,ACK,CANCEL,BYE,UPDATE,MESSAGE,OPTIONS,REFER,INFO,NOTIFY\n"
    "Supported: path,gruu,outbound\n"
    "User-Agent: JsSIP 3.13.8\n"
    "Content-Length: 0\n"
    "\n");

const std::string kBrowserInvite = crlf(
    "INVITE sip:bob@vendor.example SIP/2.0\n"
    "Via: SIP/2.0/WSS k2h1m3n4p5q6.invalid;branch=z9hG4bK7654321\n"
    "Max-Forwards: 69\n"
    "To: <sip:bob@vendor.example>\n"
    "From: <sip:alice@vendor.example>;tag=jsi1\n"
    "Call-ID: 9e8d7c6b5a4f3e2d1c0b\n"
    "CSeq: 8123 INVITE\n"
    "Contact: <sip:x7y8z9a0@k2h1m3n4p5q6.invalid;transport=ws;ob>\n"
    "Content-Type: application/sdp\n"
    "Content-Length: 0\n"
    "\n");

struct Harness {
  boost::asio::io_context io;
  MemoryLogSink sink;
  MetricsRegistry metrics;
  SipCounters counters{metrics};
  RecordingSender sender;
  ServerLocator locator{{}, nullptr, Logger(sink, "locator"), std::chrono::seconds(30)};
  Bindings bindings;
  PassThroughSdp sdp;
  std::unique_ptr<ProxyCore> core;

  Harness() {
    CoreSettings s;
    s.me = identity();
    s.client_subnets = {*parse_prefix("10.20.0.0/25").prefix};
    s.vendor_prefixes = {*parse_prefix("203.0.113.0/24").prefix};
    locator.set_targets({{"sip", ep("203.0.113.10:5060"), Transport::udp}});
    core = std::make_unique<ProxyCore>(io, Logger(sink, "sip"), counters, sender, locator, bindings, sdp, s);
  }
  void in(const Flow& from, const std::string& text) { core->on_message(from, text); }
};

}  // namespace

TEST_CASE("WebSocket: the \"sip\" subprotocol must be offered (RFC 7118 §4)", "[sip][ws]") {
  CHECK(offers_sip_subprotocol("sip"));
  CHECK(offers_sip_subprotocol("chat, sip"));
  CHECK(offers_sip_subprotocol(" sip ,xmpp"));
  CHECK_FALSE(offers_sip_subprotocol(""));
  CHECK_FALSE(offers_sip_subprotocol("sips"));
  CHECK_FALSE(offers_sip_subprotocol("SIP"));  // subprotocol names compare exactly
  CHECK_FALSE(offers_sip_subprotocol("xmpp, chat"));
}

TEST_CASE("WebSocket: one SIP message per message, keep-alives carry nothing, size is bounded", "[sip][ws]") {
  CHECK(classify_ws_payload(kBrowserRegister, 65535) == WsPayload::sip_message);
  CHECK(classify_ws_payload("\r\n\r\n", 65535) == WsPayload::keepalive);
  CHECK(classify_ws_payload("", 65535) == WsPayload::keepalive);
  CHECK(classify_ws_payload(kBrowserRegister, 100) == WsPayload::oversize);
}

TEST_CASE("WSS names: Via says WSS, URIs say transport=ws, on the passthrough's port", "[sip][ws]") {
  const Identity me = identity();
  CHECK(std::string(via_token(Transport::wss)) == "WSS");
  CHECK(std::string(to_string(Transport::wss)) == "wss");
  CHECK(me.host_port(Side::lan, Transport::wss) == "10.20.0.1:443");
  CHECK(via_value(Transport::wss, me.host_port(Side::lan, Transport::wss), "z9hG4bK-op1") ==
        "SIP/2.0/WSS 10.20.0.1:443;branch=z9hG4bK-op1");
  CHECK(record_route_value(Side::lan, Transport::wss, me, 0) == "<sip:10.20.0.1:443;transport=ws;lr>");
  CHECK(me.is_own(*parse_address("10.20.0.1"), 443));
  CHECK(is_stream(Transport::wss));
}

TEST_CASE("A browser registers and calls over WSS; the vendor's requests come back over its connection",
          "[sip][ws]") {
  Harness h;
  h.in(kBrowser, kBrowserRegister);
  auto out = h.sender.take();
  REQUIRE(out.size() == 1);
  const std::string reg = out[0].bytes;
  CHECK(out[0].to.peer.to_string() == "203.0.113.10:5060");
  CHECK(reg.find(".invalid") == std::string::npos);
  CHECK(headers(reg, "Via").at(0).rfind("SIP/2.0/UDP 198.51.100.1:5060;", 0) == 0);
  const std::string op_contact = contact_uri(reg);
  CHECK(op_contact.find("@198.51.100.1:5060") != std::string::npos);

  // The 200 goes back to the browser's connection with its own Via.
  h.in(kVendor, respond(reg, 200, "OK", "Contact: <" + op_contact + ">;expires=600\r\n"));
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(out[0].to.transport == Transport::wss);
  CHECK(out[0].to.connection == 7);
  CHECK(headers(out[0].bytes, "Via").at(0).rfind("SIP/2.0/WSS k2h1m3n4p5q6.invalid;", 0) == 0);

  // An INVITE from the vendor to the binding: to the `.invalid` contact, over connection #7.
  const std::string vendor_invite = crlf(
      "INVITE " + op_contact + " SIP/2.0\n"
      "Via: SIP/2.0/UDP 203.0.113.10;branch=z9hG4bKk9\n"
      "Record-Route: <sip:203.0.113.10;lr>\n"
      "Max-Forwards: 69\nFrom: <sip:bob@vendor.example>;tag=b1\nTo: <sip:alice@vendor.example>\n"
      "Call-ID: vcall-1@203.0.113.10\nCSeq: 1 INVITE\nContact: <sip:bob@203.0.113.40:5070>\n"
      "Content-Length: 0\n\n");
  h.in(kVendor, vendor_invite);
  out = h.sender.take();
  REQUIRE(out.size() == 2);  // our 100 Trying to the vendor, the INVITE to the browser
  const Sent& to_browser = out[0].to.side == Side::lan ? out[0] : out[1];
  CHECK(to_browser.to.transport == Transport::wss);
  CHECK(to_browser.to.connection == 7);
  CHECK(first_line(to_browser.bytes) == "INVITE sip:x7y8z9a0@k2h1m3n4p5q6.invalid;transport=ws SIP/2.0");
  CHECK(headers(to_browser.bytes, "Via").at(0).rfind("SIP/2.0/WSS 10.20.0.1:443;branch=", 0) == 0);
  CHECK(headers(to_browser.bytes, "Record-Route") == std::vector<std::string>{"<sip:10.20.0.1:443;transport=ws;lr>"});
  CHECK(contact_uri(to_browser.bytes).find("@10.20.0.1:443;transport=ws") != std::string::npos);

  // The browser's own call: the vendor sees outpost's uplink Record-Route, the browser gets
  // outpost's WSS entry back in the answer.
  h.in(kBrowser, kBrowserInvite);
  out = h.sender.take();
  REQUIRE(out.size() == 2);
  CHECK(first_line(out[0].bytes) == "SIP/2.0 100 Trying");
  CHECK(out[0].to.connection == 7);
  const std::string invite = out[1].bytes;
  CHECK(headers(invite, "Record-Route") == std::vector<std::string>{"<sip:198.51.100.1:5060;lr>"});
  CHECK(invite.find(".invalid") == std::string::npos);
  h.in(kVendor, respond(invite, 200, "OK",
                        "Record-Route: <sip:203.0.113.10;lr>\r\nRecord-Route: <sip:198.51.100.1:5060;lr>\r\n"
                        "Contact: <sip:bob@203.0.113.40:5070>\r\n"));
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(out[0].to.connection == 7);
  CHECK(headers(out[0].bytes, "Record-Route") == std::vector<std::string>{"<sip:10.20.0.1:443;transport=ws;lr>"});
  const std::string dialog_contact = contact_uri(out[0].bytes);
  CHECK(dialog_contact.find("@10.20.0.1:443;transport=ws") != std::string::npos);

  // Its ACK, sent as JsSIP does (to the dialog contact, Route = outpost's WSS entry).
  h.in(kBrowser, crlf("ACK " + dialog_contact + " SIP/2.0\n"
                      "Via: SIP/2.0/WSS k2h1m3n4p5q6.invalid;branch=z9hG4bK555\n"
                      "Route: <sip:10.20.0.1:443;transport=ws;lr>\n"
                      "Max-Forwards: 69\nTo: <sip:bob@vendor.example>;tag=v1\n"
                      "From: <sip:alice@vendor.example>;tag=jsi1\nCall-ID: 9e8d7c6b5a4f3e2d1c0b\n"
                      "CSeq: 8123 ACK\nContent-Length: 0\n\n"));
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(first_line(out[0].bytes) == "ACK sip:bob@203.0.113.40:5070 SIP/2.0");
  CHECK(headers(out[0].bytes, "Route") == std::vector<std::string>{"<sip:203.0.113.10;lr>"});
}

TEST_CASE("A vendor proxy's double Record-Route (UDP towards outpost, WS towards its own browser)", "[sip][ws]") {
  // Kamailio relaying to a browser of its own adds two entries: the WS one on top (its
  // callee's side), the UDP one below (outpost's side). outpost's first hop is the UDP one.
  Harness h;
  h.in(kBrowser, kBrowserInvite);
  auto out = h.sender.take();
  REQUIRE(out.size() == 2);
  const std::string invite = out[1].bytes;
  h.in(kVendor, respond(invite, 200, "OK",
                        "Record-Route: <sip:203.0.113.10:8080;transport=ws;r2=on;lr;ftag=jsi1>\r\n"
                        "Record-Route: <sip:203.0.113.10;r2=on;lr;ftag=jsi1>\r\n"
                        "Record-Route: <sip:198.51.100.1:5060;lr>\r\n"
                        "Contact: <sip:bob@vendor.example;gr=urn:uuid:955065ba>\r\n"));
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  const std::string dialog_contact = contact_uri(out[0].bytes);
  h.in(kBrowser, crlf("ACK " + dialog_contact + " SIP/2.0\n"
                      "Route: <sip:10.20.0.1:443;transport=ws;lr>\n"
                      "Via: SIP/2.0/WSS k2h1m3n4p5q6.invalid;branch=z9hG4bK556\n"
                      "Max-Forwards: 69\nTo: <sip:bob@vendor.example>;tag=v1\n"
                      "From: <sip:alice@vendor.example>;tag=jsi1\nCall-ID: 9e8d7c6b5a4f3e2d1c0b\n"
                      "CSeq: 8123 ACK\nContent-Length: 0\n\n"));
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(first_line(out[0].bytes) == "ACK sip:bob@vendor.example;gr=urn:uuid:955065ba SIP/2.0");
  CHECK(out[0].to.peer.to_string() == "203.0.113.10:5060");
  CHECK(out[0].to.transport == Transport::udp);
  CHECK(headers(out[0].bytes, "Route") ==
        std::vector<std::string>{"<sip:203.0.113.10;r2=on;lr;ftag=jsi1>",
                                 "<sip:203.0.113.10:8080;transport=ws;r2=on;lr;ftag=jsi1>"});
}
