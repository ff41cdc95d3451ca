#include <catch2/catch.hpp>

#include "common/net.h"

#include <vector>

using namespace outpost;

TEST_CASE("prefixes parse, reject host bits and compare", "[common][net]") {
  auto p = parse_prefix("192.0.2.0/24");
  REQUIRE(p.prefix);
  CHECK(p.prefix->to_string() == "192.0.2.0/24");
  CHECK(p.prefix->contains(*parse_address("192.0.2.77")));
  CHECK_FALSE(p.prefix->contains(*parse_address("192.0.3.1")));
  CHECK_FALSE(p.prefix->contains(*parse_address("2001:db8::1")));

  auto host_bits = parse_prefix("192.0.2.1/24");
  CHECK_FALSE(host_bits.prefix);
  CHECK(host_bits.error.find("did you mean 192.0.2.0/24") != std::string::npos);
  CHECK(parse_prefix("192.0.2.1/24", true).prefix->to_string() == "192.0.2.0/24");
  CHECK_FALSE(parse_prefix("192.0.2.0/33").prefix);
  CHECK_FALSE(parse_prefix("192.0.2.0/").prefix);
  CHECK_FALSE(parse_prefix("300.0.2.0/24").prefix);
  CHECK(parse_prefix("2001:db8::/32").prefix->length == 32);
  CHECK(parse_prefix("203.0.113.5").prefix->length == 32);

  auto a = *parse_prefix("10.20.0.0/24").prefix;
  CHECK(a.overlaps(*parse_prefix("10.20.0.128/25").prefix));
  CHECK(a.overlaps(*parse_prefix("10.0.0.0/8").prefix));
  CHECK_FALSE(a.overlaps(*parse_prefix("10.21.0.0/24").prefix));
  CHECK_FALSE(a.overlaps(*parse_prefix("2001:db8::/32").prefix));
}

TEST_CASE("endpoints, interface addresses and port ranges", "[common][net]") {
  CHECK(parse_endpoint("192.0.2.1:53")->to_string() == "192.0.2.1:53");
  CHECK(parse_endpoint("192.0.2.1", 53)->port == 53);
  CHECK_FALSE(parse_endpoint("192.0.2.1"));
  CHECK_FALSE(parse_endpoint("192.0.2.1:0"));
  CHECK_FALSE(parse_endpoint("192.0.2.1:70000"));
  CHECK(parse_endpoint("[2001:db8::1]:5060")->to_string() == "[2001:db8::1]:5060");
  CHECK(parse_endpoint("2001:db8::1", 53)->port == 53);

  auto ia = parse_interface_address("10.20.0.1/24");
  REQUIRE(ia);
  CHECK(ia->network().to_string() == "10.20.0.0/24");
  CHECK_FALSE(parse_interface_address("10.20.0.1"));

  auto r = parse_port_range("10000-20000");
  REQUIRE(r);
  CHECK(r->size() == 10001);
  CHECK(r->contains(10000));
  CHECK_FALSE(r->contains(20001));
  CHECK(r->overlaps(*parse_port_range("19999-30000")));
  CHECK_FALSE(r->overlaps(*parse_port_range("20001")));
  CHECK_FALSE(parse_port_range("20000-10000"));
  CHECK_FALSE(parse_port_range("0-10"));
  CHECK_FALSE(parse_port_range("65536"));
}

TEST_CASE("DNS names and wildcards", "[common][net]") {
  CHECK(valid_dns_name("sip.vendor.example", false));
  CHECK(valid_dns_name("sip.vendor.example.", false));
  CHECK(valid_dns_name("*.vendor.example", true));
  CHECK_FALSE(valid_dns_name("*.vendor.example", false));
  CHECK_FALSE(valid_dns_name("a..example", false));
  CHECK_FALSE(valid_dns_name("-bad.example", false));
  CHECK_FALSE(valid_dns_name(std::string(64, 'a') + ".example", false));
  CHECK_FALSE(valid_dns_name("", false));
  CHECK_FALSE(valid_dns_name("sp ace.example", false));
}

TEST_CASE("append_address and Endpoint::to_string write what IpAddress::to_string writes") {
  std::vector<IpAddress> addresses = {boost::asio::ip::make_address("0.0.0.0"),
                                      boost::asio::ip::make_address("255.255.255.255"),
                                      boost::asio::ip::make_address("10.0.100.9"),
                                      boost::asio::ip::make_address("::"),
                                      boost::asio::ip::make_address("2001:db8::1"),
                                      boost::asio::ip::make_address("::ffff:192.0.2.1")};
  for (unsigned b = 0; b < 256; b += 7) {
    const std::string text = std::to_string(b) + "." + std::to_string(255 - b) + "." + std::to_string(b / 10) + "." +
                             std::to_string(b % 100);
    addresses.push_back(boost::asio::ip::make_address(text));
  }
  for (const auto& a : addresses) {
    std::string out = "x";
    append_address(out, a);
    CHECK(out == "x" + a.to_string());
    for (uint16_t port : {uint16_t(0), uint16_t(9), uint16_t(5060), uint16_t(65535)}) {
      const std::string host = a.is_v6() ? "[" + a.to_string() + "]" : a.to_string();
      CHECK(Endpoint{a, port}.to_string() == host + ":" + std::to_string(port));
    }
  }
}

TEST_CASE("parse_address takes the same IPv4 texts as inet_pton", "[common][net]") {
  auto boost_parse = [](const std::string& t) -> std::optional<IpAddress> {
    boost::system::error_code ec;
    auto a = boost::asio::ip::make_address(t, ec);
    if (ec) return std::nullopt;
    return a;
  };
  std::vector<std::string> texts = {"0.0.0.0", "255.255.255.255", "192.0.2.1", "10.0.0.01", "256.1.1.1",
                                    "1.2.3", "1.2.3.4.5", "1..2.3", ".1.2.3", "1.2.3.", "1.2.3.4 ", " 1.2.3.4",
                                    "1.2.3.-4", "1.2.3.1000", "0.0.0.00", "", ".", "a.b.c.d", "1.2.3.4/24",
                                    "2001:db8::1", "::ffff:192.0.2.1", "fe80::1%lo", "1:2"};
  // and every short text over the characters that matter
  const std::string alphabet = "0129.5:";
  for (size_t len = 1; len <= 6; ++len) {
    std::string t(len, '0');
    size_t combos = 1;
    for (size_t i = 0; i < len; ++i) combos *= alphabet.size();
    for (size_t n = 0; n < combos; n += 7) {  // a spread sample, ~18 k texts
      size_t k = n;
      for (size_t i = 0; i < len; ++i, k /= alphabet.size()) t[i] = alphabet[k % alphabet.size()];
      texts.push_back(t);
    }
  }
  for (int a = 0; a < 300; a += 37) texts.push_back(std::to_string(a) + ".1." + std::to_string(a * 3 % 400) + ".0");
  size_t valid = 0;
  for (const auto& t : texts) {
    INFO("text '" << t << "'");
    auto ours = parse_address(t);
    auto theirs = boost_parse(t);
    REQUIRE(ours.has_value() == theirs.has_value());
    if (ours) {
      CHECK(*ours == *theirs);
      ++valid;
    }
  }
  CHECK(valid > 20);  // the sample holds real addresses, not only rejects
  CHECK(parse_address("192.0.2.1")->to_string() == "192.0.2.1");
  CHECK_FALSE(parse_address("10.0.0.01"));
}
