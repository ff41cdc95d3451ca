#include <catch2/catch.hpp>

#include "dataplane/http_head.h"

using namespace outpost::dataplane;

TEST_CASE("the Host header of an HTTP request", "[dataplane][http]") {
  auto h = parse_http_head("GET /a/b?c=d HTTP/1.1\r\nUser-Agent: x\r\nHOST:  www.vendor.example:80 \r\n\r\n");
  REQUIRE(h.status == HttpHeadStatus::ok);
  CHECK(h.method == "GET");
  CHECK(h.target == "/a/b?c=d");
  CHECK(h.host == "www.vendor.example");

  CHECK(parse_http_head("GET / HTTP/1.1\r\nHost: app.vendor.example\r\n\r\nbody").host == "app.vendor.example");
  CHECK(parse_http_head("GET / HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n\r\n").host == "[2001:db8::1]");
  auto none = parse_http_head("GET / HTTP/1.0\r\nAccept: */*\r\n\r\n");
  REQUIRE(none.status == HttpHeadStatus::ok);
  CHECK_FALSE(none.host);
}

TEST_CASE("an HTTP request head arriving in pieces", "[dataplane][http]") {
  std::string req = "GET / HTTP/1.1\r\nHost: www.vendor.example\r\n\r\n";
  for (size_t n = 0; n < req.size(); ++n) {
    INFO(n);
    REQUIRE(parse_http_head(req.substr(0, n)).status == HttpHeadStatus::need_more);
  }
  CHECK(parse_http_head(req).status == HttpHeadStatus::ok);
}

TEST_CASE("broken HTTP is malformed at once or when complete", "[dataplane][http]") {
  CHECK(parse_http_head("\x16\x03\x01").status == HttpHeadStatus::malformed);  // TLS on port 80
  CHECK(parse_http_head(" GET").status == HttpHeadStatus::malformed);
  CHECK(parse_http_head("GE\x01").status == HttpHeadStatus::malformed);
  CHECK(parse_http_head("GET / HTTP/2.0\r\n\r\n").status == HttpHeadStatus::malformed);
  CHECK(parse_http_head("GET /\r\n\r\n").status == HttpHeadStatus::malformed);
  CHECK(parse_http_head("GET / HTTP/1.1\r\nno colon\r\n\r\n").status == HttpHeadStatus::malformed);
  CHECK(parse_http_head("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").status == HttpHeadStatus::malformed);
  CHECK(parse_http_head("GET / HTTP/1.1\r\nHost: a:xx\r\n\r\n").status == HttpHeadStatus::malformed);
  CHECK(parse_http_head("GET / HTTP/1.1\r\nHost: :80\r\n\r\n").status == HttpHeadStatus::malformed);
  CHECK(parse_http_head("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").status == HttpHeadStatus::malformed);
  std::string big = "GET /" + std::string(kMaxHttpHead, 'a');
  CHECK(parse_http_head(big).status == HttpHeadStatus::too_large);
}
