// The proxy core, driven with real message text and a recording sender: what the vendor
// receives (no LAN address in Via, Contact, Record-Route), what the device receives back
// (its own Via, outpost's LAN Record-Route), REGISTER bindings, dialogs (ACK, BYE from the
// vendor), CANCEL with the non-2xx ACK, failover, and bad input counted without answers.
#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>

#include "common/metrics.h"
#include "sipalg/proxy_core.h"
#include "sipalg/rewrite.h"
#include "tests/unit/sipalg/sip_test_util.h"

using namespace outpost;
using namespace outpost::sip;
using namespace outpost::sip::test;
using namespace std::chrono_literals;

namespace {

Endpoint ep(const char* text) { return *parse_endpoint(text); }

const Flow kDevice{Side::lan, Transport::udp, ep("10.20.0.10:5062"), 0};
const Flow kVendor{Side::uplink, Transport::udp, ep("203.0.113.10:5060"), 0};
const Flow kVendor2{Side::uplink, Transport::udp, ep("203.0.113.11:5060"), 0};

struct Harness {
  boost::asio::io_context io;
  MemoryLogSink sink;
  MetricsRegistry metrics;
  SipCounters counters{metrics};
  RecordingSender sender;
  ServerLocator locator{{}, nullptr, Logger(sink, "locator"), 30s};
  Bindings bindings;
  PassThroughSdp sdp;
  std::unique_ptr<ProxyCore> core;

  explicit Harness(std::chrono::milliseconds server_timeout = 2000ms, unsigned device_expiry = 0) {
    CoreSettings s;
    s.device_expiry_s = device_expiry;
    s.vendor_expiry_s = device_expiry ? 3600 : 0;
    s.me = test_identity();
    s.me.lan_tls_port = 5061;
    s.me.lan_extra_ports = {5070};
    s.client_subnets = {*parse_prefix("10.20.0.0/25").prefix};
    s.vendor_prefixes = {*parse_prefix("203.0.113.0/24").prefix};
    s.server_timeout = server_timeout;
    locator.set_targets({{"sip", ep("203.0.113.10:5060"), Transport::udp}, {"sip2", ep("203.0.113.11:5060"), Transport::udp}});
    core = std::make_unique<ProxyCore>(io, Logger(sink, "sip"), counters, sender, locator, bindings, sdp, s);
  }
  void in(const Flow& from, const std::string& text) { core->on_message(from, text); }
  double drops(const char* reason) { return *metrics.value("outpost_sip_dropped_total", {{"reason", reason}}); }
};

bool mentions_lan(const std::vector<std::string>& values) {
  for (const auto& v : values)
    if (v.find("10.20.0.") != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("REGISTER: the vendor sees only outpost, the challenge passes untouched, the binding is kept", "[sip]") {
  Harness h;
  h.in(kDevice, kRegister);
  auto out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(out[0].to.side == Side::uplink);
  CHECK(out[0].to.peer.to_string() == "203.0.113.10:5060");
  const std::string& req = out[0].bytes;
  auto vias = headers(req, "Via");
  REQUIRE(vias.size() == 1);
  CHECK(vias[0].rfind("SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-op", 0) == 0);
  CHECK(!mentions_lan(headers(req, "Contact")));
  CHECK(headers(req, "Contact").at(0).find(";expires=120") != std::string::npos);
  CHECK(headers(req, "Max-Forwards") == std::vector<std::string>{"69"});

  // 401 with a challenge: back to the device with its own Via, challenge as it was.
  const std::string challenge = "WWW-Authenticate: Digest realm=\"vendor.example\", nonce=\"abc\", qop=\"auth\"\r\n";
  h.in(kVendor, respond(req, 401, "Unauthorized", challenge));
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(out[0].to.peer.to_string() == "10.20.0.10:5062");
  CHECK(headers(out[0].bytes, "Via") ==
        std::vector<std::string>{"SIP/2.0/UDP 10.20.0.10:5062;branch=z9hG4bKreg1;received=10.20.0.10;rport=5062"});
  CHECK(headers(out[0].bytes, "WWW-Authenticate") ==
        std::vector<std::string>{"Digest realm=\"vendor.example\", nonce=\"abc\", qop=\"auth\""});
  CHECK(h.bindings.registrations().empty());

  // The authenticated retry: Authorization passes untouched; 200 lists our contact.
  std::string retry = kRegister;
  retry.replace(retry.find("z9hG4bKreg1"), 11, "z9hG4bKreg2");
  retry.replace(retry.find("CSeq: 1"), 7, "CSeq: 2");
  const std::string auth = "Authorization: Digest username=\"alice\", realm=\"vendor.example\", nonce=\"abc\", "
                           "uri=\"sip:vendor.example\", response=\"0123456789abcdef0123456789abcdef\"";
  retry.insert(retry.find("Content-Length"), auth + "\r\n");
  h.in(kDevice, retry);
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(headers(out[0].bytes, "Authorization") == std::vector<std::string>{auth.substr(15)});
  std::string ours = contact_uri(out[0].bytes);
  h.in(kVendor, respond(out[0].bytes, 200, "OK", "Contact: <" + ours + ">;expires=120\r\n"));
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(headers(out[0].bytes, "Contact") == std::vector<std::string>{"<sip:alice@10.20.0.10:5062>;expires=120"});
  auto regs = h.bindings.to_json(std::time(nullptr));
  REQUIRE(regs.size() == 1);
  CHECK(regs[0]["aor"] == "sip:alice@vendor.example");
  CHECK(regs[0]["source"] == "10.20.0.10:5062");
  CHECK(h.counters.stats.registrations_relayed.value() == 1);

  // A retransmitted REGISTER is answered from the transaction, not sent again.
  h.in(kDevice, retry);
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(out[0].to.side == Side::lan);
  CHECK(first_line(out[0].bytes) == "SIP/2.0 200 OK");
}

TEST_CASE("INVITE dialog: Record-Route per side, ACK and BYE follow the route set, topology hidden both ways", "[sip]") {
  Harness h;
  std::vector<nlohmann::json> ended;
  h.core->dialogs().on_ended = [&](const Dialog& d) { ended.push_back(call_record(d)); };
  h.in(kDevice, kInvite);
  auto out = h.sender.take();
  REQUIRE(out.size() == 2);
  CHECK(first_line(out[0].bytes) == "SIP/2.0 100 Trying");
  CHECK(out[0].to.side == Side::lan);
  const std::string invite = out[1].bytes;
  CHECK(out[1].to.peer.to_string() == "203.0.113.10:5060");
  CHECK(headers(invite, "Record-Route") == std::vector<std::string>{"<sip:198.51.100.1:5060;lr>"});
  CHECK(headers(invite, "Via").size() == 1);
  CHECK(!mentions_lan(headers(invite, "Via")));
  CHECK(!mentions_lan(headers(invite, "Contact")));
  CHECK(invite.find("c=IN IP4 10.20.0.10") != std::string::npos);  // SDP: pass-through for now
  const std::string hidden_call_id = headers(invite, "Call-ID").at(0);
  CHECK(hidden_call_id.find("10.20.0.") == std::string::npos);
  CHECK(hidden_call_id == CallIds::hide("call-1@10.20.0.10"));
  CHECK(h.counters.stats.sdp_bodies.value() == 1);

  // The vendor's 100 is hop by hop; 180 and 200 reach the device with our LAN entry only:
  // the vendor proxy's Record-Route and the far party's Contact stay in the dialog.
  h.in(kVendor, respond(invite, 100, "Trying"));
  CHECK(h.sender.take().empty());
  const std::string rr = "Record-Route: <sip:203.0.113.10;lr>\r\nRecord-Route: <sip:198.51.100.1:5060;lr>\r\n";
  const std::string uas_contact = "Contact: <sip:bob@203.0.113.40:5070>\r\n";
  h.in(kVendor, respond(invite, 180, "Ringing", rr + uas_contact));
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(headers(out[0].bytes, "Record-Route") == std::vector<std::string>{"<sip:10.20.0.1:5060;lr>"});
  const std::string dialog_contact = contact_uri(out[0].bytes);
  CHECK(dialog_contact.rfind("sip:od", 0) == 0);
  CHECK(dialog_contact.find("@10.20.0.1:5060") != std::string::npos);
  CHECK(out[0].bytes.find("203.0.113.") == std::string::npos);
  CHECK(headers(out[0].bytes, "Via").at(0).find("branch=z9hG4bKdev1") != std::string::npos);
  CHECK(headers(out[0].bytes, "Call-ID") == std::vector<std::string>{"call-1@10.20.0.10"});
  h.in(kVendor, respond(invite, 200, "OK", rr + uas_contact));
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(first_line(out[0].bytes) == "SIP/2.0 200 OK");
  CHECK(out[0].bytes.find("203.0.113.") == std::string::npos);
  CHECK(contact_uri(out[0].bytes) == dialog_contact);
  CHECK(h.counters.stats.calls_answered.value() == 1);
  REQUIRE(h.core->dialogs().size() == 1);
  auto calls = h.core->dialogs().to_json(0);
  CHECK(calls[0]["state"] == "confirmed");
  CHECK(calls[0]["from"] == "sip:alice@vendor.example");
  CHECK(calls[0]["to"] == "sip:bob@vendor.example");
  CHECK(calls[0]["caller_side"] == "lan");

  // The device's ACK goes to the contact and route set it saw (outpost only): outpost maps
  // it back to the far party's contact behind the vendor proxy.
  std::string ack = crlf(
      "ACK " + dialog_contact + " SIP/2.0\n"
      "Via: SIP/2.0/UDP 10.20.0.10:5062;branch=z9hG4bKdev2;rport\n"
      "Route: <sip:10.20.0.1:5060;lr>\n"
      "Max-Forwards: 70\nFrom: <sip:alice@vendor.example>;tag=a1\nTo: <sip:bob@vendor.example>;tag=v1\n"
      "Call-ID: call-1@10.20.0.10\nCSeq: 1 ACK\nContent-Length: 0\n\n");
  h.in(kDevice, ack);
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(out[0].to.peer.to_string() == "203.0.113.10:5060");
  CHECK(first_line(out[0].bytes) == "ACK sip:bob@203.0.113.40:5070 SIP/2.0");
  CHECK(headers(out[0].bytes, "Route") == std::vector<std::string>{"<sip:203.0.113.10;lr>"});
  CHECK(!mentions_lan(headers(out[0].bytes, "Via")));
  CHECK(headers(out[0].bytes, "Call-ID") == std::vector<std::string>{hidden_call_id});

  // BYE from the vendor to the contact outpost gave it: to the device's real contact.
  std::string ours = contact_uri(invite);
  std::string bye = crlf(
      "BYE " + ours + " SIP/2.0\n"
      "Via: SIP/2.0/UDP 203.0.113.10;branch=z9hG4bKk1\nVia: SIP/2.0/UDP 203.0.113.40:5070;branch=z9hG4bKu1\n"
      "Route: <sip:198.51.100.1:5060;lr>\nMax-Forwards: 69\n"
      "From: <sip:bob@vendor.example>;tag=v1\nTo: <sip:alice@vendor.example>;tag=a1\n"
      "Call-ID: " + hidden_call_id + "\nCSeq: 7 BYE\nContent-Length: 0\n\n");
  h.in(kVendor, bye);
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(out[0].to.peer.to_string() == "10.20.0.10:5062");
  CHECK(first_line(out[0].bytes) == "BYE sip:alice@10.20.0.10:5062 SIP/2.0");
  CHECK(headers(out[0].bytes, "Call-ID") == std::vector<std::string>{"call-1@10.20.0.10"});
  CHECK(headers(out[0].bytes, "Route").empty());
  auto vias = headers(out[0].bytes, "Via");
  REQUIRE(vias.size() == 1);  // the vendor's hops stay hidden from the device too
  CHECK(vias[0].rfind("SIP/2.0/UDP 10.20.0.1:5060;branch=z9hG4bK-op", 0) == 0);
  h.in(kDevice, respond(out[0].bytes, 200, "OK"));
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(out[0].to.peer.to_string() == "203.0.113.10:5060");
  CHECK(headers(out[0].bytes, "Via").size() == 2);
  CHECK(headers(out[0].bytes, "Via").at(0).find("z9hG4bKk1") != std::string::npos);
  CHECK(headers(out[0].bytes, "Call-ID") == std::vector<std::string>{hidden_call_id});
  // The BYE ended the dialog: one call record.
  CHECK(h.core->dialogs().to_json(0)[0]["state"] == "ended");
  CHECK(ended.size() == 1);
  CHECK(ended.at(0)["disposition"] == "answered");
  CHECK(ended.at(0)["direction"] == "outbound");
  CHECK(ended.at(0)["caller"] == "sip:alice@vendor.example");
  // An in-dialog request to a dialog outpost does not know: 481, nothing relayed.
  h.in(kDevice, crlf("BYE sip:od0123456789abcdef@10.20.0.1:5060 SIP/2.0\n"
                     "Via: SIP/2.0/UDP 10.20.0.10:5062;branch=z9hG4bKdev9;rport\nMax-Forwards: 70\n"
                     "From: <sip:alice@vendor.example>;tag=a1\nTo: <sip:bob@vendor.example>;tag=zz\n"
                     "Call-ID: gone@10.20.0.10\nCSeq: 9 BYE\nContent-Length: 0\n\n"));
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(first_line(out[0].bytes) == "SIP/2.0 481 Call/Transaction Does Not Exist");
}

TEST_CASE("Call-IDs born on either side are hidden from the other", "[sip]") {
  CallIds ids;
  std::string h = ids.translate("1-99@10.20.0.10", Side::lan, 100);
  CHECK(h.rfind("op", 0) == 0);
  CHECK(h.find("10.20.0.") == std::string::npos);
  CHECK(ids.translate("1-99@10.20.0.10", Side::lan, 101) == h);
  CHECK(ids.translate(h, Side::uplink, 102) == "1-99@10.20.0.10");
  const std::string a = ids.translate("abc@203.0.113.10", Side::uplink, 103);
  CHECK(a == CallIds::alias("abc@203.0.113.10"));
  CHECK(a.rfind("ov", 0) == 0);
  CHECK(a.find("203.0.113.") == std::string::npos);
  CHECK(ids.translate("abc@203.0.113.10", Side::uplink, 103) == a);
  CHECK(ids.translate(a, Side::lan, 104) == "abc@203.0.113.10");
  ids.expire(104 + 24 * 3600);
  CHECK(ids.size() == 0);
}

TEST_CASE("CANCEL: answered at once, sent on after a provisional; the 487 gets outpost's ACK", "[sip]") {
  Harness h;
  h.in(kDevice, kInvite);
  auto out = h.sender.take();
  const std::string invite = out.at(1).bytes;
  std::string cancel = crlf(
      "CANCEL sip:bob@vendor.example SIP/2.0\n"
      "Via: SIP/2.0/UDP 10.20.0.10:5062;branch=z9hG4bKdev1;rport\nMax-Forwards: 70\n"
      "From: <sip:alice@vendor.example>;tag=a1\nTo: <sip:bob@vendor.example>\n"
      "Call-ID: call-1@10.20.0.10\nCSeq: 1 CANCEL\nContent-Length: 0\n\n");
  h.in(kDevice, cancel);
  out = h.sender.take();
  REQUIRE(out.size() == 1);  // only the 200 for the CANCEL: no provisional yet
  CHECK(first_line(out[0].bytes) == "SIP/2.0 200 OK");
  h.in(kVendor, respond(invite, 180, "Ringing"));
  out = h.sender.take();
  REQUIRE(out.size() == 2);  // the CANCEL goes on, the 180 comes back
  const auto& fwd_cancel = out[0].to.side == Side::uplink ? out[0] : out[1];
  CHECK(first_line(fwd_cancel.bytes) == "CANCEL sip:bob@vendor.example SIP/2.0");
  CHECK(headers(fwd_cancel.bytes, "Via") == headers(invite, "Via"));
  for (const char* name : {"From", "To", "Call-ID", "Route"})  // as the INVITE was sent (RFC 3261 9.1)
    CHECK(headers(fwd_cancel.bytes, name) == headers(invite, name));
  CHECK(headers(fwd_cancel.bytes, "CSeq") == std::vector<std::string>{"1 CANCEL"});
  h.in(kVendor, respond(fwd_cancel.bytes, 200, "OK"));  // absorbed
  CHECK(h.sender.take().empty());
  h.in(kVendor, respond(invite, 487, "Request Terminated"));
  out = h.sender.take();
  REQUIRE(out.size() == 2);
  const auto& ack = out[0].to.side == Side::uplink ? out[0] : out[1];
  const auto& terminated = out[0].to.side == Side::uplink ? out[1] : out[0];
  CHECK(first_line(ack.bytes) == "ACK sip:bob@vendor.example SIP/2.0");
  CHECK(headers(ack.bytes, "From") == headers(invite, "From"));
  CHECK(headers(ack.bytes, "Call-ID") == headers(invite, "Call-ID"));
  CHECK(headers(ack.bytes, "To").at(0).find("tag=v1") != std::string::npos);
  CHECK(first_line(terminated.bytes) == "SIP/2.0 487 Request Terminated");
  // The device's ACK for the 487 (same branch as its INVITE) ends here.
  std::string dev_ack = cancel;
  dev_ack.replace(0, 6, "ACK");
  dev_ack.replace(dev_ack.find("CSeq: 1 CANCEL"), 14, "CSeq: 1 ACK");
  dev_ack.replace(dev_ack.find("To: <sip:bob@vendor.example>"), 28, "To: <sip:bob@vendor.example>;tag=v1");
  h.in(kDevice, dev_ack);
  CHECK(h.sender.take().empty());
}

TEST_CASE("failover: no answer within the server timeout, or a 503, moves to the next server", "[sip]") {
  Harness h(50ms);
  h.in(kDevice, kRegister);
  CHECK(h.sender.take().at(0).to.peer.to_string() == "203.0.113.10:5060");
  h.io.run_for(400ms);
  bool moved = false;
  for (const auto& s : h.sender.take()) moved = moved || s.to.peer.to_string() == "203.0.113.11:5060";
  CHECK(moved);
  CHECK(h.counters.stats.failovers.value() == 1);
  CHECK(h.locator.status(ServerLocator::Clock::now())[0]["state"] == "blacklisted");

  Harness g;
  g.in(kDevice, kInvite);
  auto invite = g.sender.take().at(1).bytes;
  g.in(kVendor, respond(invite, 503, "Service Unavailable"));
  auto out = g.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(out[0].to.peer.to_string() == "203.0.113.11:5060");
  CHECK(first_line(out[0].bytes) == "INVITE sip:bob@vendor.example SIP/2.0");
  // 503 from the last server goes back to the device.
  g.in(kVendor2, respond(out[0].bytes, 503, "Service Unavailable"));
  out = g.sender.take();
  REQUIRE(!out.empty());
  bool told = false;
  for (const auto& s : out) told = told || (s.to.side == Side::lan && first_line(s.bytes) == "SIP/2.0 503 Service Unavailable");
  CHECK(told);
}

TEST_CASE("no server answers: the device gets a 408 with its own From, To and Call-ID", "[sip]") {
  Harness h(50ms);
  h.in(kDevice, kRegister);
  h.io.run_for(1000ms);  // both servers time out
  const Sent* timeout = nullptr;
  auto out = h.sender.take();
  for (const auto& s : out)
    if (s.to.side == Side::lan && first_line(s.bytes) == "SIP/2.0 408 Request Timeout") timeout = &s;
  REQUIRE(timeout);
  for (const char* name : {"From", "Call-ID"}) CHECK(headers(timeout->bytes, name) == headers(kRegister, name));
  REQUIRE(headers(timeout->bytes, "Via").size() == 1);  // the device's own, with received/rport filled in
  CHECK(headers(timeout->bytes, "Via")[0].rfind("SIP/2.0/UDP 10.20.0.10:5062;branch=z9hG4bKreg1;", 0) == 0);
  REQUIRE(headers(timeout->bytes, "To").size() == 1);
  CHECK(headers(timeout->bytes, "To")[0].rfind(headers(kRegister, "To").at(0) + ";tag=", 0) == 0);
  CHECK(headers(timeout->bytes, "CSeq") == headers(kRegister, "CSeq"));
}

TEST_CASE("bad input is counted and never answered where it must not be", "[sip]") {
  Harness h;
  h.in(kDevice, "\x16\x03\x01 garbage");
  h.in(kDevice, "INVITE sip:x SIP/2.0\r\n\r\n");
  CHECK(h.sender.take().empty());
  CHECK(h.drops("malformed") == 2);

  Flow outsider{Side::lan, Transport::udp, ep("10.20.0.200:5060"), 0};
  h.in(outsider, kRegister);
  Flow stranger{Side::uplink, Transport::udp, ep("192.0.2.99:5060"), 0};
  h.in(stranger, kRegister);
  CHECK(h.sender.take().empty());
  CHECK(h.drops("source_not_allowed") == 2);

  std::string scan = kRegister;
  scan.insert(scan.find("Content-Length"), "User-Agent: friendly-scanner\r\n");
  h.in(kDevice, scan);
  CHECK(h.sender.take().empty());
  CHECK(h.drops("scanner") == 1);
  // Matched anywhere in the User-Agent, in any case; a near miss is relayed.
  std::string scan2 = kRegister;
  scan2.insert(scan2.find("Content-Length"), "User-Agent: Tool/1.0 (SIPVicious-ng)\r\n");
  h.in(kDevice, scan2);
  CHECK(h.sender.take().empty());
  CHECK(h.drops("scanner") == 2);
  std::string iwar = kRegister;
  iwar.insert(iwar.find("Content-Length"), "User-Agent: IWAR\r\n");
  h.in(kDevice, iwar);
  CHECK(h.sender.take().empty());
  CHECK(h.drops("scanner") == 3);
  std::string phone = kRegister;
  phone.insert(phone.find("Content-Length"), "User-Agent: sipsa phone sip-sca\r\n");
  phone.replace(phone.find("branch="), 7, "branch=z9hG4bKnearmiss");
  h.in(kDevice, phone);
  CHECK(!h.sender.take().empty());
  CHECK(h.drops("scanner") == 3);

  std::string zero = kRegister;
  zero.replace(zero.find("Max-Forwards: 70"), 16, "Max-Forwards: 0");
  h.in(kDevice, zero);
  auto out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(first_line(out[0].bytes) == "SIP/2.0 483 Too Many Hops");

  std::string looped = kRegister;
  looped.insert(looped.find("Via:"), "Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-op1234.1\r\n");
  h.in(kDevice, looped);
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(first_line(out[0].bytes) == "SIP/2.0 482 Loop Detected");

  CHECK(h.drops("rate_limited") == 0);  // the default here: no limit

  h.in(kVendor, respond(kRegister, 200, "OK"));  // matches no transaction
  CHECK(h.drops("stray_response") == 1);

  // An in-dialog request routed at a non-vendor address is refused.
  std::string away = crlf(
      "BYE sip:x@192.0.2.50 SIP/2.0\nVia: SIP/2.0/UDP 10.20.0.10:5062;branch=z9hG4bKz\nMax-Forwards: 70\n"
      "From: <sip:a@b>;tag=1\nTo: <sip:c@d>;tag=2\nCall-ID: q\nCSeq: 3 BYE\nContent-Length: 0\n\n");
  h.in(kDevice, away);
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(first_line(out[0].bytes) == "SIP/2.0 403 Forbidden");

  // A vendor request for an unknown device gets 404.
  std::string unknown = crlf(
      "INVITE sip:opdeadbeef@198.51.100.1:5060 SIP/2.0\nVia: SIP/2.0/UDP 203.0.113.10;branch=z9hG4bKv\n"
      "Max-Forwards: 70\nFrom: <sip:b@vendor.example>;tag=1\nTo: <sip:a@vendor.example>\nCall-ID: w\n"
      "CSeq: 1 INVITE\nContent-Length: 0\n\n");
  h.in(kVendor, unknown);
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(first_line(out[0].bytes) == "SIP/2.0 404 Not Found");

  // OPTIONS to outpost itself is answered (device keep-alive / health probe).
  std::string options = crlf(
      "OPTIONS sip:10.20.0.1 SIP/2.0\nVia: SIP/2.0/UDP 10.20.0.10:5062;branch=z9hG4bKo\nMax-Forwards: 70\n"
      "From: <sip:a@b>;tag=1\nTo: <sip:10.20.0.1>\nCall-ID: o\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n");
  h.in(kDevice, options);
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(first_line(out[0].bytes) == "SIP/2.0 200 OK");
  // And the vendor's health probe to outpost's uplink address.
  std::string probe = crlf(
      "OPTIONS sip:198.51.100.1:5060 SIP/2.0\nVia: SIP/2.0/UDP 203.0.113.10;branch=z9hG4bKp\nMax-Forwards: 70\n"
      "From: <sip:k@vendor.example>;tag=1\nTo: <sip:198.51.100.1>\nCall-ID: p\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n");
  h.in(kVendor, probe);
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(out[0].to.side == Side::uplink);
  CHECK(first_line(out[0].bytes) == "SIP/2.0 200 OK");
}

TEST_CASE("a vendor call to a registered device reaches it with outpost's LAN Record-Route", "[sip]") {
  Harness h;
  h.in(kDevice, kRegister);
  auto req = h.sender.take().at(0).bytes;
  std::string ours = contact_uri(req);
  h.in(kVendor, respond(req, 200, "OK", "Contact: <" + ours + ">;expires=120\r\n"));
  h.sender.take();
  std::string invite = crlf(
      "INVITE " + ours + " SIP/2.0\nVia: SIP/2.0/UDP 203.0.113.10;branch=z9hG4bKvv\n"
      "Record-Route: <sip:203.0.113.10;lr>\nMax-Forwards: 69\nFrom: <sip:bob@vendor.example>;tag=b1\n"
      "To: <sip:alice@vendor.example>\nCall-ID: in-1\nCSeq: 1 INVITE\nContact: <sip:bob@203.0.113.40:5070>\n"
      "Content-Length: 0\n\n");
  h.in(kVendor, invite);
  auto out = h.sender.take();
  REQUIRE(out.size() == 2);
  CHECK(out[0].to.side == Side::uplink);  // 100 Trying to the vendor
  CHECK(out[1].to.peer.to_string() == "10.20.0.10:5062");
  CHECK(first_line(out[1].bytes) == "INVITE sip:alice@10.20.0.10:5062 SIP/2.0");
  // The device sees outpost only: its LAN Record-Route, and an od<token> contact for bob.
  CHECK(headers(out[1].bytes, "Record-Route") == std::vector<std::string>{"<sip:10.20.0.1:5060;lr>"});
  CHECK(out[1].bytes.find("203.0.113.") == std::string::npos);
  CHECK(headers(out[1].bytes, "Call-ID") == std::vector<std::string>{CallIds::alias("in-1")});
  const std::string dialog_contact = contact_uri(out[1].bytes);
  CHECK(dialog_contact.rfind("sip:od", 0) == 0);
  // The device answers with its own contact and the RR copied: the vendor gets its own
  // Record-Route back behind outpost's uplink entry.
  std::string ok = respond(out[1].bytes, 200, "OK",
                           "Record-Route: <sip:10.20.0.1:5060;lr>\r\n"
                           "Contact: <sip:alice@10.20.0.10:5062>\r\n");
  h.in(kDevice, ok);
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(out[0].to.peer.to_string() == "203.0.113.10:5060");
  CHECK(headers(out[0].bytes, "Record-Route") ==
        std::vector<std::string>{"<sip:198.51.100.1:5060;lr>", "<sip:203.0.113.10;lr>"});
  CHECK(!mentions_lan(headers(out[0].bytes, "Contact")));
  CHECK(!mentions_lan(headers(out[0].bytes, "Via")));
  CHECK(h.core->dialogs().to_json(0)[0]["caller_side"] == "uplink");
  // The device hangs up: its BYE to bob's hidden contact goes to bob's real one, via the
  // vendor proxy (the UAS route set: the Record-Route in order).
  h.in(kDevice, crlf("BYE " + dialog_contact + " SIP/2.0\n"
                     "Via: SIP/2.0/UDP 10.20.0.10:5062;branch=z9hG4bKbye1;rport\nRoute: <sip:10.20.0.1:5060;lr>\n"
                     "Max-Forwards: 70\nFrom: <sip:alice@vendor.example>;tag=v1\nTo: <sip:bob@vendor.example>;tag=b1\n"
                     "Call-ID: " + CallIds::alias("in-1") + "\nCSeq: 1 BYE\nContent-Length: 0\n\n"));
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(out[0].to.peer.to_string() == "203.0.113.10:5060");
  CHECK(first_line(out[0].bytes) == "BYE sip:bob@203.0.113.40:5070 SIP/2.0");
  CHECK(headers(out[0].bytes, "Call-ID") == std::vector<std::string>{"in-1"});
  CHECK(headers(out[0].bytes, "Route") == std::vector<std::string>{"<sip:203.0.113.10;lr>"});
  h.in(kVendor, respond(out[0].bytes, 200, "OK"));
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(first_line(out[0].bytes) == "SIP/2.0 200 OK");
  CHECK(h.core->dialogs().to_json(0)[0]["state"] == "ended");
}

TEST_CASE("re-INVITE from the device follows the route set, without a new Record-Route", "[sip]") {
  Harness h;
  std::string reinvite = crlf(
      "INVITE sip:bob@203.0.113.40:5070 SIP/2.0\n"
      "Via: SIP/2.0/UDP 10.20.0.10:5062;branch=z9hG4bKre1;rport\n"
      "Route: <sip:10.20.0.1:5060;lr>\nRoute: <sip:203.0.113.10;lr>\n"
      "Max-Forwards: 70\nFrom: <sip:alice@vendor.example>;tag=a1\nTo: <sip:bob@vendor.example>;tag=v1\n"
      "Call-ID: call-1@10.20.0.10\nCSeq: 5 INVITE\nContact: <sip:alice@10.20.0.10:5062>\nContent-Length: 0\n\n");
  h.in(kDevice, reinvite);
  auto out = h.sender.take();
  REQUIRE(out.size() == 2);
  CHECK(out[1].to.peer.to_string() == "203.0.113.10:5060");
  CHECK(first_line(out[1].bytes) == "INVITE sip:bob@203.0.113.40:5070 SIP/2.0");
  CHECK(headers(out[1].bytes, "Route") == std::vector<std::string>{"<sip:203.0.113.10;lr>"});
  CHECK(headers(out[1].bytes, "Record-Route").empty());
  CHECK(!mentions_lan(headers(out[1].bytes, "Contact")));
  CHECK(headers(out[1].bytes, "Call-ID") == std::vector<std::string>{CallIds::hide("call-1@10.20.0.10")});
  h.in(kVendor, respond(out[1].bytes, 200, "OK"));
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(headers(out[0].bytes, "CSeq") == std::vector<std::string>{"5 INVITE"});
  CHECK(headers(out[0].bytes, "Call-ID") == std::vector<std::string>{"call-1@10.20.0.10"});
}

TEST_CASE("registration throttling: short expiry for the device, refreshes answered from the binding", "[sip]") {
  Harness h(2000ms, 120);
  // The device asks for 120 s; the vendor is asked for 3600 s.
  h.in(kDevice, kRegister);
  auto out = h.sender.take();
  REQUIRE(out.size() == 1);
  const std::string req = out[0].bytes;
  CHECK(headers(req, "Contact").at(0).find(";expires=3600") != std::string::npos);
  CHECK(headers(req, "Contact").at(0).find(";expires=120") == std::string::npos);
  std::string ours = contact_uri(req);
  // The vendor grants 3600: the binding keeps 3600, the device is told 120.
  h.in(kVendor, respond(req, 200, "OK", "Contact: <" + ours + ">;expires=3600\r\n"));
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(headers(out[0].bytes, "Contact") == std::vector<std::string>{"<sip:alice@10.20.0.10:5062>;expires=120"});
  CHECK(h.bindings.to_json(std::time(nullptr))[0]["expires_in"].get<int64_t>() > 3500);

  // The device's refresh (new transaction) is answered by outpost, not relayed.
  std::string refresh = kRegister;
  refresh.replace(refresh.find("z9hG4bKreg1"), 11, "z9hG4bKreg3");
  refresh.replace(refresh.find("CSeq: 1"), 7, "CSeq: 3");
  h.in(kDevice, refresh);
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(out[0].to.side == Side::lan);
  CHECK(first_line(out[0].bytes) == "SIP/2.0 200 OK");
  CHECK(headers(out[0].bytes, "Contact") == std::vector<std::string>{"<sip:alice@10.20.0.10:5062>;expires=120"});
  CHECK(headers(out[0].bytes, "To").at(0).find(";tag=") != std::string::npos);
  CHECK(headers(out[0].bytes, "CSeq") == std::vector<std::string>{"3 REGISTER"});
  CHECK(h.counters.stats.registrations_absorbed.value() == 1);

  // From another source port (a new NAT mapping): a new flow, relayed.
  const Flow moved{Side::lan, Transport::udp, ep("10.20.0.10:6000"), 0};
  h.in(moved, refresh);
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(out[0].to.side == Side::uplink);

  // Unregistering (expires=0) always goes to the vendor.
  std::string unreg = refresh;
  unreg.replace(unreg.find("z9hG4bKreg3"), 11, "z9hG4bKreg4");
  unreg.replace(unreg.find(";expires=120"), 12, ";expires=0");
  h.in(kDevice, unreg);
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(out[0].to.side == Side::uplink);
  CHECK(h.counters.stats.registrations_absorbed.value() == 1);
}

TEST_CASE("registration throttling: relayed again when the vendor's binding is near its end", "[sip]") {
  Harness h(2000ms, 120);
  h.in(kDevice, kRegister);
  auto req = h.sender.take().at(0).bytes;
  // The vendor grants only 200 s (< 2 x 120): every refresh is relayed.
  h.in(kVendor, respond(req, 200, "OK", "Contact: <" + contact_uri(req) + ">;expires=200\r\n"));
  auto out = h.sender.take();
  CHECK(headers(out.at(0).bytes, "Contact") == std::vector<std::string>{"<sip:alice@10.20.0.10:5062>;expires=120"});
  std::string refresh = kRegister;
  refresh.replace(refresh.find("z9hG4bKreg1"), 11, "z9hG4bKreg5");
  h.in(kDevice, refresh);
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(out[0].to.side == Side::uplink);
  CHECK(h.counters.stats.registrations_absorbed.value() == 0);
}

TEST_CASE("a device on TLS: registered over its connection, called back on it with outpost's TLS address", "[sip]") {
  Harness h;
  const Flow tls_device{Side::lan, Transport::tls, ep("10.20.0.10:40000"), 7};
  std::string reg = kRegister;
  reg.replace(reg.find("SIP/2.0/UDP 10.20.0.10:5062"), 27, "SIP/2.0/TLS 10.20.0.10:40000");
  reg.replace(reg.find("<sip:alice@10.20.0.10:5062>"), 27, "<sip:alice@10.20.0.10:40000;transport=tls>");
  h.in(tls_device, reg);
  auto out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(out[0].to.transport == Transport::udp);  // the vendor side is the profile's transport
  std::string ours = contact_uri(out[0].bytes);
  h.in(kVendor, respond(out[0].bytes, 200, "OK", "Contact: <" + ours + ">;expires=300\r\n"));
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(out[0].to.transport == Transport::tls);
  CHECK(out[0].to.connection == 7);
  h.in(kVendor, crlf("INVITE " + ours + " SIP/2.0\nVia: SIP/2.0/UDP 203.0.113.10;branch=z9hG4bKtl\n"
                     "Record-Route: <sip:203.0.113.10;lr>\nMax-Forwards: 69\nFrom: <sip:bob@vendor.example>;tag=b9\n"
                     "To: <sip:alice@vendor.example>\nCall-ID: tls-in\nCSeq: 1 INVITE\n"
                     "Contact: <sip:bob@203.0.113.40:5070>\nContent-Length: 0\n\n"));
  out = h.sender.take();
  REQUIRE(out.size() == 2);
  CHECK(out[1].to.transport == Transport::tls);
  CHECK(out[1].to.connection == 7);
  CHECK(headers(out[1].bytes, "Via").at(0).rfind("SIP/2.0/TLS 10.20.0.1:5061;branch=z9hG4bK-op", 0) == 0);
  CHECK(headers(out[1].bytes, "Record-Route") == std::vector<std::string>{"<sip:10.20.0.1:5061;transport=tls;lr>"});
  CHECK(contact_uri(out[1].bytes).find("@10.20.0.1:5061;transport=tls") != std::string::npos);
  // The device's answer: outpost's TLS Record-Route entry becomes its uplink one.
  h.in(tls_device, respond(out[1].bytes, 200, "OK", "Record-Route: <sip:10.20.0.1:5061;transport=tls;lr>\r\n"
                                                      "Contact: <sip:alice@10.20.0.10:40000;transport=tls>\r\n"));
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(headers(out[0].bytes, "Record-Route") ==
        std::vector<std::string>{"<sip:198.51.100.1:5060;lr>", "<sip:203.0.113.10;lr>"});
  CHECK(!mentions_lan(headers(out[0].bytes, "Contact")));
}

TEST_CASE("a device on an extra LAN port (AETA 5070) is answered from it and sees it in Record-Route and Contact", "[sip]") {
  Harness h;
  const Flow aeta{Side::lan, Transport::udp, ep("10.20.0.10:5062"), 0, 5070};
  h.in(aeta, kInvite);
  auto out = h.sender.take();
  REQUIRE(out.size() == 2);
  CHECK(out[0].to.local_port == 5070);  // the 100 leaves from 5070
  CHECK(out[1].to.side == Side::uplink);
  CHECK(headers(out[1].bytes, "Record-Route") == std::vector<std::string>{"<sip:198.51.100.1:5060;lr>"});
  const std::string invite = out[1].bytes;
  h.in(kVendor, respond(invite, 200, "OK", "Record-Route: <sip:203.0.113.10;lr>\r\nRecord-Route: <sip:198.51.100.1:5060;lr>\r\n"
                                           "Contact: <sip:bob@203.0.113.40:5070>\r\n"));
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(out[0].to.local_port == 5070);
  CHECK(headers(out[0].bytes, "Record-Route") == std::vector<std::string>{"<sip:10.20.0.1:5070;lr>"});
  const std::string contact = contact_uri(out[0].bytes);
  CHECK(contact.find("@10.20.0.1:5070") != std::string::npos);
  // Its ACK to that contact, through outpost's 5070 entry (popped as outpost's own).
  h.in(aeta, crlf("ACK " + contact + " SIP/2.0\nVia: SIP/2.0/UDP 10.20.0.10:5062;branch=z9hG4bKa5070\n"
                  "Route: <sip:10.20.0.1:5070;lr>\nMax-Forwards: 70\nFrom: <sip:alice@vendor.example>;tag=a1\n"
                  "To: <sip:bob@vendor.example>;tag=v1\nCall-ID: call-1@10.20.0.10\nCSeq: 1 ACK\nContent-Length: 0\n\n"));
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(first_line(out[0].bytes) == "ACK sip:bob@203.0.113.40:5070 SIP/2.0");
  CHECK(headers(out[0].bytes, "Route") == std::vector<std::string>{"<sip:203.0.113.10;lr>"});
}

TEST_CASE("forked early dialogs: the one that answers is confirmed, the others are dropped", "[sip]") {
  Harness h;
  h.in(kDevice, kInvite);
  const std::string invite = h.sender.take().at(1).bytes;
  const std::string rr = "Record-Route: <sip:198.51.100.1:5060;lr>\r\n";
  h.in(kVendor, respond(invite, 180, "Ringing", rr + "Contact: <sip:bob@203.0.113.40:5070>\r\n", "fork1"));
  h.in(kVendor, respond(invite, 180, "Ringing", rr + "Contact: <sip:bob@203.0.113.41:5070>\r\n", "fork2"));
  auto out = h.sender.take();
  REQUIRE(out.size() == 2);
  const std::string fork2_contact = contact_uri(out[1].bytes);
  CHECK(contact_uri(out[0].bytes) != fork2_contact);
  CHECK(h.core->dialogs().size() == 2);
  h.in(kVendor, respond(invite, 200, "OK", rr + "Contact: <sip:bob@203.0.113.41:5070>\r\n", "fork2"));
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(contact_uri(out[0].bytes) == fork2_contact);
  auto calls = h.core->dialogs().to_json(0);
  REQUIRE(calls.size() == 1);
  CHECK(calls[0]["state"] == "confirmed");
  CHECK(calls[0]["dialog"] == Dialogs::token(CallIds::hide("call-1@10.20.0.10"), "fork2"));
}

TEST_CASE("without an uplink address vendor-bound requests get a 503, and relay once one is set", "[sip]") {
  Harness h;
  CoreSettings s;
  s.me.lan = *parse_address("10.20.0.1");  // uplink left unspecified: started before the link was up
  s.client_subnets = {*parse_prefix("10.20.0.0/25").prefix};
  s.vendor_prefixes = {*parse_prefix("203.0.113.0/24").prefix};
  h.core->set_settings(s);
  h.in(kDevice, kInvite);
  auto out = h.sender.take();
  REQUIRE(!out.empty());
  CHECK(out.back().to.peer.to_string() == "10.20.0.10:5062");
  CHECK(out.back().bytes.rfind("SIP/2.0 503 ", 0) == 0);
  for (const auto& o : out) CHECK(o.to.side == Side::lan);
  CHECK(h.drops("no_uplink") == 1);

  s.me.uplink = *parse_address("198.51.100.1");
  h.core->set_settings(s);
  std::string again = kInvite;
  again.replace(again.find("z9hG4bKdev1"), 11, "z9hG4bKdev2");
  h.in(kDevice, again);
  out = h.sender.take();
  bool relayed = false;
  for (const auto& o : out) relayed |= o.to.side == Side::uplink && o.bytes.rfind("INVITE ", 0) == 0;
  CHECK(relayed);
  CHECK(h.drops("no_uplink") == 1);
}

// A keep-alive on the harness's core, after alice registered over UDP (relayed, 200 from the
// vendor, nothing left to send).
static void register_alice_with_keepalive(Harness& h, KeepAlive& keepalive) {
  keepalive.set_identity(test_identity());
  h.core->set_keepalive(&keepalive);
  h.in(kDevice, kRegister);
  auto req = h.sender.take().at(0).bytes;
  h.in(kVendor, respond(req, 200, "OK", "Contact: <" + contact_uri(req) + ">;expires=3600\r\n"));
  h.sender.take();
}

TEST_CASE("NAT keep-alive: OPTIONS to registered UDP devices from outpost's LAN address, answers counted", "[sip][keepalive]") {
  Harness h;
  KeepAlive keepalive(h.io, h.sender, h.bindings, h.counters);
  register_alice_with_keepalive(h, keepalive);
  std::string req;
  // A TCP device registered too: not pinged (it keeps its flow with CRLF pings).
  const Flow tcp_device{Side::lan, Transport::tcp, ep("10.20.0.11:40000"), 7};
  std::string reg2 = kRegister;
  reg2.replace(reg2.find("alice@10.20.0.10:5062"), 21, "carol@10.20.0.11:5062");
  reg2.replace(reg2.find("SIP/2.0/UDP 10.20.0.10"), 22, "SIP/2.0/TCP 10.20.0.11");
  reg2.replace(reg2.find("z9hG4bKreg1"), 11, "z9hG4bKreg9");
  h.in(tcp_device, reg2);
  req = h.sender.take().at(0).bytes;
  h.in(kVendor, respond(req, 200, "OK", "Contact: <" + contact_uri(req) + ">;expires=3600\r\n"));
  h.sender.take();
  REQUIRE(h.bindings.registrations().size() == 2);

  const int64_t now = std::time(nullptr);
  CHECK(keepalive.tick(now) == 1);
  auto out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(out[0].to.side == Side::lan);
  CHECK(out[0].to.transport == Transport::udp);
  CHECK(out[0].to.peer.to_string() == "10.20.0.10:5062");
  const std::string& ping = out[0].bytes;
  CHECK(first_line(ping) == "OPTIONS sip:alice@10.20.0.10:5062 SIP/2.0");
  auto vias = headers(ping, "Via");
  REQUIRE(vias.size() == 1);
  CHECK(vias[0].rfind("SIP/2.0/UDP 10.20.0.1:5060;branch=z9hG4bK-opka", 0) == 0);
  CHECK(ping.find("198.51.100.") == std::string::npos);
  CHECK(h.counters.stats.keepalives_sent.value() == 1);

  // The device answers (any final status counts): consumed by the keep-alive, not a stray.
  h.in(kDevice, respond(ping, 200, "OK"));
  CHECK(h.sender.take().empty());
  CHECK(h.counters.stats.keepalives_answered.value() == 1);
  CHECK(h.drops("stray_response") == 0);
  std::string token = h.bindings.registrations()[0].token;
  for (const auto& b : h.bindings.registrations())
    if (h.bindings.lookup(b.token)->flow.transport == Transport::udp) token = b.token;
  CHECK(keepalive.state(token, now)["reachable"] == true);
  CHECK(keepalive.state(token, now)["last_status"] == 200);

  // It stops answering: each unanswered round counts as failed; after three it is unreachable
  // (the binding stays: calls to it are still tried, it ends at the vendor's expiry).
  for (int round = 0; round < 4; ++round) keepalive.tick(now + 25 * (round + 1));
  CHECK(h.counters.stats.keepalives_failed.value() == 3);
  CHECK(keepalive.state(token, now + 100)["misses"] == 3);
  CHECK(keepalive.state(token, now + 100)["reachable"] == false);
  CHECK(h.bindings.registrations().size() == 2);
  // A late answer to an old ping is a stray; an answer to the last one makes it reachable again.
  const std::string last = h.sender.take().back().bytes;
  h.in(kDevice, respond(ping, 200, "OK"));
  CHECK(h.drops("stray_response") == 1);
  h.in(kDevice, respond(last, 405, "Method Not Allowed"));
  CHECK(keepalive.state(token, now + 100)["reachable"] == true);
  CHECK(keepalive.state(token, now + 100)["last_status"] == 405);
}

TEST_CASE("NAT keep-alive: a round is spread over the interval, each device pinged once in it", "[sip][keepalive]") {
  Harness h;
  KeepAlive keepalive(h.io, h.sender, h.bindings, h.counters);
  register_alice_with_keepalive(h, keepalive);
  REQUIRE(h.bindings.registrations().size() == 1);
  const std::string token = h.bindings.registrations()[0].token;

  // One interval of 25 s = 25 one-second slices: alice is pinged in hers only, once.
  constexpr unsigned kSlices = 25;
  const int64_t now = std::time(nullptr);
  for (unsigned slice = 0; slice < kSlices; ++slice) {
    CHECK(keepalive.tick_slice(now + slice, slice, kSlices) == (slice == KeepAlive::slice_of(token, kSlices) ? 1u : 0u));
  }
  auto out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(first_line(out[0].bytes) == "OPTIONS sip:alice@10.20.0.10:5062 SIP/2.0");
  // Unanswered, it counts as missed when her slice comes round again, not at other slices.
  for (unsigned slice = 0; slice < kSlices; ++slice) keepalive.tick_slice(now + kSlices + slice, slice, kSlices);
  CHECK(h.counters.stats.keepalives_failed.value() == 1);
  CHECK(h.counters.stats.keepalives_sent.value() == 2);

  // Over many devices the slices share the load evenly: 25,000 tokens, 1,000 per slice on
  // average, none far off (a burst of a whole round is what the slicing avoids).
  std::vector<unsigned> per_slice(kSlices);
  for (int i = 0; i < 25000; ++i) ++per_slice.at(KeepAlive::slice_of("op" + std::to_string(i * 7919) + "x", kSlices));
  for (unsigned n : per_slice) {
    CHECK(n > 850);
    CHECK(n < 1150);
  }
}

TEST_CASE("LAN addresses a device puts in From/To/P-Asserted-Identity never reach the vendor", "[sip][lanhosts]") {
  Harness h;
  std::string invite = kInvite;
  invite.replace(invite.find("From: <sip:alice@vendor.example>;tag=a1"), 40,
                 "From: \"Alice\" <sip:alice@10.20.0.10:5062>;tag=a1");
  invite.replace(invite.find("To: <sip:bob@vendor.example>"), 28, "To: <sip:bob@10.20.0.1>");
  invite.insert(invite.find("Content-Type"),
                "P-Asserted-Identity: <sip:alice@10.20.0.10>\r\nCall-Info: <http://10.20.0.10/photo.png>;purpose=icon\r\n"
                "Diversion: <sip:200@10.20.0.99>;reason=unconditional\r\nUser-Agent: phone 10.1.2.3\r\n");
  h.in(kDevice, invite);
  auto out = h.sender.take();
  REQUIRE(out.size() == 2);  // 100 Trying, the INVITE
  const std::string& sent = out[1].bytes;
  CHECK(out[1].to.side == Side::uplink);
  CHECK(headers(sent, "From") == std::vector<std::string>{"\"Alice\" <sip:alice@198.51.100.1:5062>;tag=a1"});
  CHECK(headers(sent, "To") == std::vector<std::string>{"<sip:bob@198.51.100.1>"});
  CHECK(headers(sent, "P-Asserted-Identity") == std::vector<std::string>{"<sip:alice@198.51.100.1>"});
  CHECK(headers(sent, "Call-Info") == std::vector<std::string>{"<http://198.51.100.1/photo.png>;purpose=icon"});
  CHECK(headers(sent, "Diversion") == std::vector<std::string>{"<sip:200@198.51.100.1>;reason=unconditional"});
  CHECK(headers(sent, "User-Agent") == std::vector<std::string>{"phone 10.1.2.3"});  // not a LAN address
  CHECK(h.counters.stats.lan_hosts_hidden.value() == 5);
  // Only the SDP (pass-through here; the relay rewrites it) still names the device.
  CHECK(sent.substr(0, sent.find("\r\n\r\n")).find("10.20.0.") == std::string::npos);

  // The answer goes back with the device's own From/To, plus the far end's To tag.
  h.in(kVendor, respond(sent, 200, "OK", "Contact: <sip:bob@203.0.113.40>\r\n", "v9"));
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(headers(out[0].bytes, "From") == std::vector<std::string>{"\"Alice\" <sip:alice@10.20.0.10:5062>;tag=a1"});
  CHECK(headers(out[0].bytes, "To") == std::vector<std::string>{"<sip:bob@10.20.0.1>;tag=v9"});

  // The vendor hangs up: its BYE's To names the device as the vendor saw it; the device gets
  // its own identity back (tag kept), and the vendor gets the device's answer hidden again.
  h.in(kVendor, crlf("BYE " + contact_uri(sent) + " SIP/2.0\nVia: SIP/2.0/UDP 203.0.113.10;branch=z9hG4bKvbye\n"
                     "Max-Forwards: 70\nFrom: <sip:bob@198.51.100.1>;tag=v9\n"
                     "To: \"Alice\" <sip:alice@198.51.100.1:5062>;tag=a1\nCall-ID: " + headers(sent, "Call-ID").at(0) +
                     "\nCSeq: 5 BYE\nContent-Length: 0\n\n"));
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(out[0].to.peer.to_string() == "10.20.0.10:5062");
  CHECK(headers(out[0].bytes, "To") == std::vector<std::string>{"\"Alice\" <sip:alice@10.20.0.10:5062>;tag=a1"});
  h.in(kDevice, respond(out[0].bytes, 200, "OK"));
  out = h.sender.take();
  REQUIRE(out.size() == 1);
  CHECK(out[0].to.side == Side::uplink);
  CHECK(headers(out[0].bytes, "To") == std::vector<std::string>{"\"Alice\" <sip:alice@198.51.100.1:5062>;tag=a1"});
  CHECK(out[0].bytes.find("10.20.0.") == std::string::npos);
}

TEST_CASE("replace_lan_literals: only whole LAN IP literals change", "[sip][lanhosts]") {
  auto lan = [](const IpAddress& a) { return parse_prefix("10.0.0.0/8").prefix->contains(a) || a.is_v6(); };
  int n = 0;
  CHECK(replace_lan_literals("<sip:a@10.1.2.3:5060>;tag=10.1.2.3x", lan, "X", &n) == "<sip:a@X:5060>;tag=10.1.2.3x");
  CHECK(n == 1);
  CHECK(replace_lan_literals("sip:110.1.2.3 a10.1.2.3 10.1.2 10.1.2.3.4", lan, "X") == "sip:110.1.2.3 a10.1.2.3 10.1.2 10.1.2.3.4");
  CHECK(replace_lan_literals("sip:u@[fd00::1]:5060 <sip:10.9.9.9>", lan, "X") == "sip:u@X:5060 <sip:X>");
  CHECK(replace_lan_literals("sip:u@192.168.1.1", lan, "X") == "sip:u@192.168.1.1");
}

TEST_CASE("3xx from the vendor: ACKed hop by hop, relayed to the device with its Contact, no dialog left", "[sip]") {
  Harness h;
  h.in(kDevice, kInvite);
  const std::string invite = h.sender.take().at(1).bytes;
  h.in(kVendor, respond(invite, 302, "Moved Temporarily", "Contact: <sip:carol@vendor.example>\r\n"));
  auto out = h.sender.take();
  REQUIRE(out.size() == 2);
  const auto& ack = out[0].to.side == Side::uplink ? out[0] : out[1];
  const auto& moved = out[0].to.side == Side::uplink ? out[1] : out[0];
  CHECK(first_line(ack.bytes) == "ACK sip:bob@vendor.example SIP/2.0");
  CHECK(headers(ack.bytes, "Via") == std::vector<std::string>{headers(invite, "Via").at(0)});
  CHECK(ack.to.peer.to_string() == "203.0.113.10:5060");
  CHECK(first_line(moved.bytes) == "SIP/2.0 302 Moved Temporarily");
  CHECK(moved.to.peer.to_string() == "10.20.0.10:5062");
  CHECK(contact_uri(moved.bytes) == "sip:carol@vendor.example");  // the redirect target, as the vendor gave it
  CHECK(headers(moved.bytes, "Call-ID") == headers(kInvite, "Call-ID"));
  REQUIRE(headers(moved.bytes, "Via").size() == 1);  // outpost's own Via taken off
  CHECK(headers(moved.bytes, "Via")[0].find("branch=z9hG4bKdev1;received=10.20.0.10;rport=5062") != std::string::npos);
  CHECK(h.core->dialogs().to_json(0).empty());
  // The device's ACK for the 302 ends at outpost (its hop-by-hop ACK was already sent).
  std::string dev_ack = kInvite.substr(0, kInvite.find("Content-Type"));
  dev_ack.replace(0, 6, "ACK");
  dev_ack.replace(dev_ack.find("CSeq: 1 INVITE"), 14, "CSeq: 1 ACK");
  dev_ack.replace(dev_ack.find("To: <sip:bob@vendor.example>"), 28, "To: <sip:bob@vendor.example>;tag=v1");
  h.in(kDevice, dev_ack + "Content-Length: 0\r\n\r\n");
  CHECK(h.sender.take().empty());
}
