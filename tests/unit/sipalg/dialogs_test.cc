// The dialog table: tokens, od<token> contacts, ending, expiry, call records.
#include <catch2/catch.hpp>

#include "sipalg/dialogs.h"
#include "tests/unit/sipalg/sip_test_util.h"

using namespace outpost;
using namespace outpost::sip;

namespace {
const Identity kMe = test::test_identity();
}

TEST_CASE("dialog tokens are stable per Call-ID and vendor tag, and round-trip through the od contact", "[sip]") {
  auto a = Dialogs::token("c1", "t1");
  CHECK(a == Dialogs::token("c1", "t1"));
  CHECK(a != Dialogs::token("c1", "t2"));  // each fork its own dialog
  CHECK(a != Dialogs::token("c2", "t1"));
  CHECK(a.size() == 16);
  std::string uri = Dialogs::contact_uri(a, Transport::tcp, kMe);
  CHECK(uri == "sip:od" + a + "@10.20.0.1:5060;transport=tcp");
  CHECK(Dialogs::token_of(uri, kMe) == a);
  CHECK(!Dialogs::token_of("sip:od" + a + "@198.51.100.1:5060", kMe));  // not our LAN address
  CHECK(!Dialogs::token_of("sip:op" + a + "@10.20.0.1:5060", kMe));     // a registration contact
  CHECK(!Dialogs::token_of("sip:10.20.0.1:5060", kMe));
  CHECK(!Dialogs::token_of("not a uri", kMe));
  // Escaped, the user part still reads od<token> once decoded: parsed, not skipped.
  CHECK(Dialogs::token_of("sip:%6Fd" + a + "@10.20.0.1:5060", kMe) == a);
}

TEST_CASE("dialogs end once, linger, and leave one call record per INVITE", "[sip]") {
  Dialogs dialogs;
  std::vector<nlohmann::json> records;
  dialogs.on_ended = [&](const Dialog& d) { records.push_back(call_record(d)); };
  Dialog& d = dialogs.upsert("abc");
  d.method = "INVITE";
  d.from = "sip:alice@vendor.example";
  d.to = "sip:bob@vendor.example";
  d.start = 100;
  d.last_used = 100;
  d.answer = 105;
  d.status = 200;
  d.state = Dialog::State::confirmed;
  CHECK(dialogs.to_json(110)[0]["duration_s"] == 5);
  dialogs.ended(d, 160);
  dialogs.ended(d, 170);  // a retransmitted BYE answer: still one record
  REQUIRE(records.size() == 1);
  CHECK(records[0]["duration_s"] == 55);
  CHECK(records[0]["disposition"] == "answered");
  CHECK(records[0]["caller"] == "sip:alice@vendor.example");
  dialogs.expire(170);
  CHECK(dialogs.size() == 1);  // lingers for retransmissions
  dialogs.expire(200);
  CHECK(dialogs.size() == 0);

  Dialog& c = dialogs.upsert("def");
  c.method = "INVITE";
  c.start = c.last_used = 300;
  c.status = 487;
  dialogs.ended(c, 301);
  CHECK(records.back()["disposition"] == "cancelled");
  Dialog& s = dialogs.upsert("sub");
  s.method = "SUBSCRIBE";
  s.last_used = 300;
  dialogs.ended(s, 301);
  CHECK(records.size() == 2);  // no call record for a subscription
  Dialog& idle = dialogs.upsert("idle");
  idle.last_used = 0;
  dialogs.expire(12 * 3600);
  CHECK(!dialogs.find("idle"));
}

TEST_CASE("call records as CSV: header, ISO times, RFC 4180 quoting, media quality columns", "[sip]") {
  Dialog d;
  d.token = "00000000000000ab";
  d.method = "INVITE";
  d.from = "\"Doe, Jane\" <sip:jane@vendor.example>";
  d.to = "sip:bob@vendor.example";
  d.device = Flow{Side::lan, Transport::udp, *parse_endpoint("10.20.0.10:5062"), 0};
  d.vendor = *parse_endpoint("203.0.113.10:5060");
  d.status = 200;
  d.start = 1795000000;  // 2026-11-18T11:06:40Z
  d.answer = d.start + 2;
  d.end = d.start + 62;
  CHECK(call_record_csv_header().rfind("call,start,answer,end,duration_s,caller,callee,", 0) == 0);
  CHECK(call_record_csv(d, media::CallMediaTotals{}) ==
        "00000000000000ab,2026-11-18T11:06:40Z,2026-11-18T11:06:42Z,2026-11-18T11:07:42Z,60,"
        "\"\"\"Doe, Jane\"\" <sip:jane@vendor.example>\",sip:bob@vendor.example,outbound,200,answered,"
        "udp:10.20.0.10:5062,203.0.113.10:5060,,,,,,,\r\n");
  media::CallMediaTotals media;
  media.streams = 1;
  media.packets_to_vendor = 3000, media.lost_to_vendor = 3;
  media.packets_to_lan = 2990, media.lost_to_lan = 0;
  media.jitter_ms_max = 4.25, media.mos_min = 4.3;
  std::string line = call_record_csv(d, media);
  CHECK(line.substr(line.find(",203.0.113.10:5060,")) == ",203.0.113.10:5060,1,3000,2990,3,0,4.25,4.30\r\n");
  Dialog cancelled = d;
  cancelled.answer = 0;
  cancelled.status = 487;
  std::string c = call_record_csv(cancelled, media::CallMediaTotals{});
  CHECK(c.find(",2026-11-18T11:06:40Z,,2026-11-18T11:07:42Z,0,") != std::string::npos);
  CHECK(c.find(",487,cancelled,") != std::string::npos);
}
