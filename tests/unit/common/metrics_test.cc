#include <catch2/catch.hpp>

#include "common/metrics.h"

using namespace outpost;

#define TEST_STATS(X) X(queries, "queries seen") X(drops, "queries dropped")
OUTPOST_DEFINE_STATS(TestStats, "outpost_test_", TEST_STATS);

TEST_CASE("counters and gauges render in Prometheus text format", "[common][metrics]") {
  MetricsRegistry r;
  auto& a = r.counter("outpost_x_total", "X things", {{"kind", "a"}});
  auto& b = r.counter("outpost_x_total", "X things", {{"kind", "b\"q"}});
  a.inc(3);
  b.inc();
  CHECK(&r.counter("outpost_x_total", "X things", {{"kind", "a"}}) == &a);  // same series, same object
  r.gauge("outpost_level", "a level").set(2.5);
  std::string text = r.render();
  CHECK(text.find("# HELP outpost_x_total X things\n# TYPE outpost_x_total counter\n") != std::string::npos);
  CHECK(text.find("outpost_x_total{kind=\"a\"} 3\n") != std::string::npos);
  CHECK(text.find("outpost_x_total{kind=\"b\\\"q\"} 1\n") != std::string::npos);
  CHECK(text.find("# TYPE outpost_level gauge\noutpost_level 2.5\n") != std::string::npos);
  CHECK(r.value("outpost_x_total", {{"kind", "a"}}) == 3);
  CHECK_FALSE(r.value("outpost_missing"));
  CHECK_THROWS_AS(r.gauge("outpost_x_total", "wrong type"), std::logic_error);
  CHECK_THROWS_AS(r.counter("bad name", "x"), std::logic_error);
}

TEST_CASE("callback gauges go away with their handle", "[common][metrics]") {
  MetricsRegistry r;
  double v = 7;
  {
    auto handle = r.gauge_callback("outpost_sessions", "open sessions", {}, [&] { return v; });
    CHECK(r.render().find("outpost_sessions 7\n") != std::string::npos);
    v = 8;
    CHECK(r.value("outpost_sessions") == 8);
  }
  CHECK(r.render().find("outpost_sessions") == std::string::npos);
}

TEST_CASE("stats structs name every counter once", "[common][metrics]") {
  MetricsRegistry r;
  auto stats = TestStats::make(r);
  stats.queries.inc(2);
  stats.drops.inc();
  CHECK(r.value("outpost_test_queries_total") == 2);
  CHECK(stats.to_json() == nlohmann::json{{"queries", 2}, {"drops", 1}});
  auto again = TestStats::make(r);  // a component rebuilt on reload keeps its counts
  CHECK(again.queries.value() == 2);
}
