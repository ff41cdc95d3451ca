#include <catch2/catch.hpp>

#include "daemon/config_loader.h"
#include "vpn/probe_kind.h"

using namespace outpost;
using namespace outpost::vpn;

namespace {

config::LoadResult load(const std::string& primary_extra, const std::string& probe) {
  std::string text =
      "lan:\n  interface: lan0\n  address: 10.20.0.1/24\n"
      "vendor:\n  profile: lab\n"
      "uplinks:\n  primary:\n    interface: wanp0\n    address: 198.51.100.1/30\n    gateway: 198.51.100.2\n" +
      primary_extra + "  probe:\n    interval_ms: 50\n" + probe;
  return config::load_config_text(text, "t.yaml", config::LoadOptions{OUTPOST_SOURCE_DIR "/daemon/profiles"});
}

// One probe round as UplinkMonitor drives it: ask what to send, then deliver the echoes the
// target gives for the kinds that were sent. Returns whether an echo counted for `seq`.
struct Round {
  ProbeSends sent;
  bool counted = false;
};

Round round(ProbeKindSelector& s, uint64_t seq, bool udp_answers, bool icmp_answers) {
  Round r;
  r.sent = s.next_round(seq);
  if (r.sent.udp && udp_answers) r.counted = s.echo(ProbeKind::udp, seq) || r.counted;
  if (r.sent.icmp && icmp_answers) r.counted = s.echo(ProbeKind::icmp, seq) || r.counted;
  return r;
}

}  // namespace

TEST_CASE("probe modes parse and print") {
  CHECK(parse_probe_mode("udp") == ProbeMode::udp);
  CHECK(parse_probe_mode("icmp") == ProbeMode::icmp);
  CHECK(parse_probe_mode("auto") == ProbeMode::automatic);
  CHECK_FALSE(parse_probe_mode("tcp"));
  CHECK(std::string(to_string(ProbeMode::automatic)) == "auto");
  CHECK(std::string(to_string(ProbeKind::icmp)) == "icmp");
}

TEST_CASE("udp and icmp modes send one kind and never switch") {
  ProbeKindSelector udp(ProbeMode::udp), icmp(ProbeMode::icmp);
  for (uint64_t seq = 1; seq <= 20; ++seq) {
    auto u = round(udp, seq, false, true);
    CHECK(u.sent.udp);
    CHECK_FALSE(u.sent.icmp);
    CHECK_FALSE(u.counted);
    auto i = round(icmp, seq, false, true);
    CHECK(i.sent.icmp);
    CHECK_FALSE(i.sent.udp);
    CHECK(i.counted);
  }
  CHECK(udp.in_use() == ProbeKind::udp);
  CHECK(icmp.in_use() == ProbeKind::icmp);
  CHECK(udp.switches() == 0);
  CHECK(icmp.switches() == 0);
}

TEST_CASE("auto sends only UDP while the UDP echo answers") {
  ProbeKindSelector s(ProbeMode::automatic, 3);
  for (uint64_t seq = 1; seq <= 100; ++seq) {
    auto r = round(s, seq, true, true);
    CHECK(r.sent.udp);
    CHECK_FALSE(r.sent.icmp);
    CHECK(r.counted);
  }
  CHECK(s.in_use() == ProbeKind::udp);
  CHECK_FALSE(s.trying_icmp());
}

TEST_CASE("auto falls back to ICMP when the UDP echo is silent and ICMP answers, and back") {
  ProbeKindSelector s(ProbeMode::automatic, 3, 3);
  for (uint64_t seq = 1; seq <= 10; ++seq) round(s, seq, true, true);
  // The vendor's UDP echo stops; ICMP still answers.
  auto first = round(s, 11, false, true);
  CHECK_FALSE(first.sent.icmp);  // one unanswered probe is not yet a reason
  CHECK_FALSE(first.counted);
  auto trial = round(s, 12, false, true);
  CHECK(trial.sent.icmp);  // the previous UDP probe went unanswered: try ICMP alongside
  CHECK(trial.counted);    // and its echo keeps the uplink alive meanwhile
  CHECK(s.in_use() == ProbeKind::udp);
  round(s, 13, false, true);
  CHECK(s.in_use() == ProbeKind::icmp);  // UDP silent for 3 probes while ICMP answers
  CHECK(s.switches() == 1);
  for (uint64_t seq = 14; seq <= 50; ++seq) {
    auto r = round(s, seq, false, true);
    CHECK(r.sent.udp);  // UDP keeps being tried, to come back
    CHECK(r.sent.icmp);
    CHECK(r.counted);
  }
  CHECK(s.in_use() == ProbeKind::icmp);
  // UDP echo back: 3 consecutive echoes return to UDP, then ICMP stops.
  round(s, 51, true, true);
  round(s, 52, true, true);
  CHECK(s.in_use() == ProbeKind::icmp);
  round(s, 53, true, true);
  CHECK(s.in_use() == ProbeKind::udp);
  CHECK(s.switches() == 2);
  auto after = round(s, 54, true, true);
  CHECK_FALSE(after.sent.icmp);
}

TEST_CASE("auto does not fall back when nothing answers (a dead path stays dead)") {
  ProbeKindSelector s(ProbeMode::automatic, 3);
  for (uint64_t seq = 1; seq <= 10; ++seq) round(s, seq, true, true);
  for (uint64_t seq = 11; seq <= 40; ++seq) {
    auto r = round(s, seq, false, false);
    CHECK_FALSE(r.counted);  // the health sees every probe lost: detection as with UDP alone
  }
  CHECK(s.in_use() == ProbeKind::udp);
  CHECK(s.trying_icmp());
  CHECK(s.switches() == 0);
  // The path heals: UDP answers first, ICMP trial stops.
  round(s, 41, true, true);
  auto r = round(s, 42, true, true);
  CHECK_FALSE(r.sent.icmp);
  CHECK(s.switches() == 0);
}

TEST_CASE("auto: a single late or lost UDP echo among answers does not switch") {
  ProbeKindSelector s(ProbeMode::automatic, 3);
  for (uint64_t seq = 1; seq <= 200; ++seq) round(s, seq, seq % 5 != 0, true);  // 20 % UDP loss
  CHECK(s.in_use() == ProbeKind::udp);
  CHECK(s.switches() == 0);
}

TEST_CASE("the first echo of a probe counts, the other kind's is a duplicate") {
  ProbeKindSelector s(ProbeMode::automatic, 1);
  s.next_round(1);
  s.next_round(2);  // UDP 1 unanswered: ICMP is sent for 2
  CHECK(s.echo(ProbeKind::icmp, 2));
  CHECK_FALSE(s.echo(ProbeKind::udp, 2));
  CHECK_FALSE(s.echo(ProbeKind::icmp, 2));
  CHECK(s.echo(ProbeKind::udp, 1));  // late, but the first for 1
}

TEST_CASE("auto starts on UDP and settles on ICMP when the target has no UDP echo at all") {
  ProbeKindSelector s(ProbeMode::automatic, 3);
  uint64_t counted = 0;
  for (uint64_t seq = 1; seq <= 20; ++seq) counted += round(s, seq, false, true).counted;
  CHECK(s.in_use() == ProbeKind::icmp);
  CHECK(counted == 19);  // all but the first probe, sent before any reason to try ICMP
  CHECK(s.switches() == 1);
}

TEST_CASE("config: uplinks.probe.kind defaults to auto, per uplink `probe` overrides it") {
  auto dflt = load("", "");
  INFO(dflt.errors.to_string());
  REQUIRE(dflt.config);
  CHECK(dflt.config->uplinks.probe.kind == "auto");
  CHECK(dflt.config->uplinks.primary.probe.empty());
  auto set = load("    probe: icmp\n", "    kind: udp\n");
  INFO(set.errors.to_string());
  REQUIRE(set.config);
  CHECK(set.config->uplinks.probe.kind == "udp");
  CHECK(set.config->uplinks.primary.probe == "icmp");
}

TEST_CASE("config: a bad probe kind is refused with its place") {
  auto bad = load("    probe: tcp\n", "");
  CHECK_FALSE(bad.config);
  CHECK(bad.errors.to_string().find("t.yaml:11:") != std::string::npos);
  CHECK(bad.errors.to_string().find("uplinks.primary.probe: 'tcp' is not one of: udp, icmp, auto") != std::string::npos);
  auto bad_kind = load("", "    kind: bfd\n");
  CHECK_FALSE(bad_kind.config);
  CHECK(bad_kind.errors.to_string().find("uplinks.probe.kind") != std::string::npos);
}

TEST_CASE("auto: when a dead path heals, an ICMP echo arriving first does not switch to ICMP") {
  ProbeKindSelector s(ProbeMode::automatic, 3);
  for (uint64_t seq = 1; seq <= 10; ++seq) round(s, seq, true, true);
  for (uint64_t seq = 11; seq <= 30; ++seq) round(s, seq, false, false);
  auto sent = s.next_round(31);
  REQUIRE(sent.icmp);
  CHECK(s.echo(ProbeKind::icmp, 31));  // ICMP's echo first: it counts
  CHECK_FALSE(s.echo(ProbeKind::udp, 31));
  CHECK(s.in_use() == ProbeKind::udp);
  for (uint64_t seq = 32; seq <= 40; ++seq) {
    s.next_round(seq);
    s.echo(ProbeKind::icmp, seq);
    s.echo(ProbeKind::udp, seq);
  }
  CHECK(s.in_use() == ProbeKind::udp);
  CHECK(s.switches() == 0);
}
