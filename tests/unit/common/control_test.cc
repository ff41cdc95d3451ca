#include <catch2/catch.hpp>

#include "common/control.h"

using namespace outpost;

namespace {
Json run(const ControlRegistry& r, const std::string& line) {
  Json out;
  r.dispatch_line(line, [&](ControlReply reply) { out = reply.to_json(); });
  return out;
}
}  // namespace

TEST_CASE("control commands dispatch by name and by longest word prefix", "[common][control]") {
  ControlRegistry r;
  auto show = r.add("show dns", "dns state", [](const Json&) { return ControlReply::success({{"x", 1}}); });
  auto lookup = r.add("dns lookup", "lookup", [](const Json& args) { return ControlReply::success(args); });

  CHECK(run(r, R"({"command":"show dns"})") == Json{{"ok", true}, {"data", {{"x", 1}}}});
  auto j = run(r, R"({"words":["dns","lookup","www.vendor.example"],"args":{"type":"AAAA"}})");
  CHECK(j["ok"] == true);
  CHECK(j["data"]["args"] == Json::array({"www.vendor.example"}));
  CHECK(j["data"]["type"] == "AAAA");

  CHECK(run(r, R"({"words":["show","nothing"]})")["code"] == 2);
  CHECK(run(r, "not json")["code"] == 2);
  CHECK(run(r, R"({"args":{}})")["code"] == 2);
  CHECK(run(r, R"({"command":"show dns","args":[1]})")["code"] == 2);
  CHECK(run(r, R"({"words":[1]})")["code"] == 2);
}

TEST_CASE("registrations end with their owner; handler errors are replies", "[common][control]") {
  ControlRegistry r;
  {
    auto reg = r.add("boom", "throws", [](const Json&) -> ControlReply { throw std::runtime_error("bad"); });
    auto j = run(r, R"({"command":"boom"})");
    CHECK(j["ok"] == false);
    CHECK(j["error"] == "internal error: bad");
    CHECK_THROWS_AS(r.add("boom", "twice", [](const Json&) { return ControlReply::success(); }), std::logic_error);
  }
  CHECK_FALSE(r.has("boom"));
  CHECK(run(r, R"({"command":"boom"})")["code"] == 2);
}
