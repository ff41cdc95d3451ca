// TCP framing: Content-Length decides, CRLF keep-alives are answered, bad streams refused.
#include <catch2/catch.hpp>

#include "sipalg/framing.h"
#include "tests/unit/sipalg/sip_test_util.h"

using namespace outpost::sip;
using namespace outpost::sip::test;

TEST_CASE("a stream splits into whole messages", "[sip]") {
  std::string two = kInvite + kRegister;
  Frame f = next_frame(two, 65535);
  REQUIRE(f.kind == Frame::message);
  CHECK(f.length == kInvite.size());
  Frame g = next_frame(std::string_view(two).substr(f.length), 65535);
  REQUIRE(g.kind == Frame::message);
  CHECK(g.length == kRegister.size());
  for (size_t cut = 1; cut < kInvite.size(); cut += 7) CHECK(next_frame(kInvite.substr(0, cut), 65535).kind == Frame::need_more);
}

TEST_CASE("keep-alives: a double CRLF is a ping, a lone CRLF is skipped", "[sip]") {
  CHECK(next_frame("\r\n\r\n", 100).kind == Frame::ping);
  CHECK(next_frame("\r\n\r\n", 100).length == 4);
  CHECK(next_frame("\r\nINVITE", 100).kind == Frame::skip);
  CHECK(next_frame("\r\n", 100).kind == Frame::need_more);
}

TEST_CASE("streams without a usable Content-Length are refused", "[sip]") {
  CHECK(next_frame("OPTIONS sip:a SIP/2.0\r\nCall-ID: x\r\n\r\n", 1000).kind == Frame::error);
  CHECK(next_frame("OPTIONS sip:a SIP/2.0\r\nContent-Length: -3\r\n\r\n", 1000).kind == Frame::error);
  CHECK(next_frame("OPTIONS sip:a SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\n", 1000).kind == Frame::error);
  CHECK(next_frame("OPTIONS sip:a SIP/2.0\r\nContent-Length: 99999999999\r\n\r\n", 1000).kind == Frame::error);
  CHECK(next_frame("OPTIONS sip:a SIP/2.0\r\nContent-Length: 900\r\n\r\n", 100).kind == Frame::error);
  CHECK(next_frame(std::string(200, 'x'), 100).kind == Frame::error);
  CHECK(next_frame("OPTIONS sip:a SIP/2.0\r\nl: 0\r\n\r\n", 1000).kind == Frame::message);
}
