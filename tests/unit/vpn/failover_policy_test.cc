#include <catch2/catch.hpp>

#include <functional>
#include <random>

#include "vpn/failover_policy.h"

using namespace outpost::vpn;
using namespace std::chrono_literals;

namespace {

HealthSettings settings() {
  HealthSettings s;
  s.interval = 50ms;
  s.timeout = 150ms;
  s.loss_threshold = 3;
  s.holddown = 10s;
  return s;
}

// Replays probes on both uplinks at the probe interval, as UplinkMonitor drives them:
// send, echo after 2 ms unless `lost` says otherwise, tick, decide.
struct Sim {
  UplinkHealth primary{settings()};
  UplinkHealth backup{settings()};
  FailoverPolicy policy{true};
  Preference pref = Preference::automatic;
  TimePoint now{};
  uint64_t seq = 0;
  unsigned switches = 0;
  std::function<bool(uint64_t)> primary_lost = [](uint64_t) { return false; };
  std::function<bool(uint64_t)> backup_lost = [](uint64_t) { return false; };

  void step() {
    ++seq;
    primary.probe_sent(seq, now);
    backup.probe_sent(seq, now);
    TimePoint echo = now + 2ms;
    if (!primary_lost(seq)) primary.reply(seq, echo);
    if (!backup_lost(seq)) backup.reply(seq, echo);
    now += 50ms;
    primary.tick(now);
    backup.tick(now);
    if (policy.decide(primary, &backup, pref, now).changed) ++switches;
  }
  void run(std::chrono::milliseconds d) {
    for (auto end = now + d; now < end;) step();
  }
};

}  // namespace

TEST_CASE("both uplinks healthy: the primary carries traffic", "[vpn][failover]") {
  Sim s;
  s.run(2s);
  CHECK(s.policy.active() == Path::primary);
  CHECK(s.switches == 0);
  CHECK(s.primary.up());
  CHECK(s.primary.stats().received == 40);
  CHECK(s.primary.stats().lost == 0);
  CHECK(s.primary.stats().rtt_ms == Approx(2.0));
}

TEST_CASE("fewer lost probes than the threshold do not fail over", "[vpn][failover]") {
  Sim s;
  s.run(1s);
  uint64_t from = s.seq + 1;
  s.primary_lost = [from](uint64_t q) { return q >= from && q < from + 2; };  // two in a row
  s.run(2s);
  CHECK(s.policy.active() == Path::primary);
  CHECK(s.switches == 0);
  CHECK(s.primary.stats().lost == 2);
}

TEST_CASE("loss_threshold lost probes fail over to the backup", "[vpn][failover]") {
  Sim s;
  s.run(1s);
  uint64_t from = s.seq + 1;
  s.primary_lost = [from](uint64_t q) { return q >= from; };  // silent loss from here on
  unsigned steps = 0;
  while (s.policy.active() == Path::primary && steps < 100) s.step(), ++steps;
  CHECK(s.policy.active() == Path::backup);
  CHECK(steps == 3);  // detection after 3 probes without an echo, not 3 timeouts
  CHECK_FALSE(s.primary.up());
  CHECK(s.primary.reason() == "3 probes unanswered");
  CHECK(s.primary.stats().detections == 1);
}

TEST_CASE("carrier loss fails over at once", "[vpn][failover]") {
  Sim s;
  s.run(1s);
  s.primary.link(false, s.now);
  auto d = s.policy.decide(s.primary, &s.backup, s.pref, s.now);
  CHECK(d.changed);
  CHECK(d.active == Path::backup);
  CHECK(d.reason == "primary down (link down)");
}

TEST_CASE("no failover when the backup is down too", "[vpn][failover]") {
  Sim s;
  s.backup_lost = [](uint64_t) { return true; };
  s.run(1s);
  s.primary.link(false, s.now);
  CHECK_FALSE(s.policy.decide(s.primary, &s.backup, s.pref, s.now).changed);
  CHECK(s.policy.active() == Path::primary);
}

TEST_CASE("failback waits for the hold-down, then is a single switch", "[vpn][failover]") {
  Sim s;
  s.run(1s);
  s.primary.link(false, s.now);
  s.step();
  REQUIRE(s.policy.active() == Path::backup);
  s.primary.link(true, s.now);
  s.run(9s);  // the primary answers again, but for less than the 10 s hold-down
  CHECK(s.primary.up());
  CHECK(s.policy.active() == Path::backup);
  s.run(1500ms);
  CHECK(s.policy.active() == Path::primary);
  CHECK(s.switches == 2);
}

TEST_CASE("a single lost probe during the hold-down is tolerated, sustained loss is not", "[vpn][failover]") {
  Sim s;
  s.run(1s);
  s.primary.link(false, s.now);
  s.step();
  s.primary.link(true, s.now);
  uint64_t at = s.seq + 40;
  s.primary_lost = [at](uint64_t q) { return q == at; };  // 1 of 200 = 0.5 % < 1 %
  s.run(10500ms);
  CHECK(s.policy.active() == Path::primary);
}

TEST_CASE("no flapping at 20 % random loss on the primary", "[vpn][failover]") {
  Sim s;
  s.run(1s);
  std::mt19937 rng(42);
  std::vector<bool> loss(200000);
  for (size_t i = 0; i < loss.size(); ++i) loss[i] = rng() % 5 == 0;
  s.primary_lost = [&loss](uint64_t q) { return loss[q % loss.size()]; };
  s.run(600s);  // ten minutes
  // At most one switch, to the backup; 20 % loss never passes the failback's 1 % bar.
  CHECK(s.switches <= 1);
  if (s.switches == 1) CHECK(s.policy.active() == Path::backup);
  CHECK(s.primary.stats().recent_loss > 0.1);
}

TEST_CASE("a lossy backup does not pull traffic back to an unstable primary while it answers", "[vpn][failover]") {
  Sim s;
  s.run(1s);
  s.primary.link(false, s.now);
  s.step();
  s.primary.link(true, s.now);
  s.run(2s);
  REQUIRE(s.policy.active() == Path::backup);
  s.backup.link(false, s.now);  // backup gone, primary up but not yet stable: take it
  s.step();
  CHECK(s.policy.active() == Path::primary);
}

TEST_CASE("forced preferences win over health; auto returns to the policy", "[vpn][failover]") {
  Sim s;
  s.run(1s);
  s.pref = Preference::backup;
  s.step();
  CHECK(s.policy.active() == Path::backup);
  s.pref = Preference::automatic;
  s.step();
  CHECK(s.policy.active() == Path::backup);  // auto: failback still needs the hold-down...
  s.run(10s);
  CHECK(s.policy.active() == Path::primary);  // ...which the primary has served already
  s.primary.link(false, s.now);
  s.pref = Preference::primary;
  s.step();
  CHECK(s.policy.active() == Path::primary);  // forced even though it is down
}

TEST_CASE("late and duplicate echoes are counted, not trusted twice", "[vpn][failover]") {
  UplinkHealth h(settings());
  TimePoint t{};
  h.probe_sent(1, t);
  h.tick(t + 200ms);  // past the 150 ms timeout: lost
  CHECK(h.stats().lost == 1);
  CHECK(h.reply(1, t + 210ms));  // late: counted, proves the path works
  CHECK(h.stats().late == 1);
  CHECK_FALSE(h.reply(1, t + 220ms));
  CHECK(h.stats().duplicates == 1);
  CHECK_FALSE(h.reply(99, t + 220ms));
  CHECK(h.stats().duplicates == 2);
}

TEST_CASE("jitter follows the RFC 3550 estimator over RTTs", "[vpn][failover]") {
  UplinkHealth h(settings());
  TimePoint t{};
  h.probe_sent(1, t);
  h.reply(1, t + 10ms);
  h.probe_sent(2, t + 50ms);
  h.reply(2, t + 50ms + 26ms);
  CHECK(h.stats().jitter_ms == Approx(1.0));  // |26 - 10| / 16
  CHECK(h.stats().rtt_min_ms == Approx(10));
  CHECK(h.stats().rtt_max_ms == Approx(26));
}

TEST_CASE("preferences parse and print", "[vpn][failover]") {
  CHECK(parse_preference("auto") == Preference::automatic);
  CHECK(parse_preference("backup") == Preference::backup);
  CHECK_FALSE(parse_preference("secondary"));
  CHECK(std::string(to_string(Preference::automatic)) == "auto");
}

TEST_CASE("the detection deadline is the last echo plus threshold x interval", "[vpn][failover]") {
  UplinkHealth h(settings());
  TimePoint t{};
  CHECK_FALSE(h.detection_deadline());  // not up yet
  h.probe_sent(1, t);
  h.reply(1, t + 1ms);
  REQUIRE(h.detection_deadline());
  CHECK(*h.detection_deadline() == t + 151ms);
  for (uint64_t q = 2; q <= 4; ++q) h.probe_sent(q, t + (q - 1) * 50ms);
  h.tick(t + 150ms);
  CHECK(h.up());  // three probes out, but the deadline is not reached
  h.tick(t + 151ms);
  CHECK_FALSE(h.up());  // exactly at the deadline, between probe rounds
  CHECK(h.reason() == "3 probes unanswered");
}
