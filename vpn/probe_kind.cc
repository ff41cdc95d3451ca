#include "vpn/probe_kind.h"

namespace outpost::vpn {
namespace {
constexpr size_t kAnsweredWindow = 256;  // far more than the probes in flight
}

const char* to_string(ProbeKind k) { return k == ProbeKind::udp ? "udp" : "icmp"; }

const char* to_string(ProbeMode m) {
  switch (m) {
    case ProbeMode::udp: return "udp";
    case ProbeMode::icmp: return "icmp";
    case ProbeMode::automatic: return "auto";
  }
  return "?";
}

std::optional<ProbeMode> parse_probe_mode(const std::string& text) {
  if (text == "udp") return ProbeMode::udp;
  if (text == "icmp") return ProbeMode::icmp;
  if (text == "auto") return ProbeMode::automatic;
  return std::nullopt;
}

ProbeKindSelector::ProbeKindSelector(ProbeMode mode, unsigned fallback_after, unsigned recover_after)
    : mode_(mode),
      fallback_after_(fallback_after < 1 ? 1 : fallback_after),
      recover_after_(recover_after < 1 ? 1 : recover_after),
      in_use_(mode == ProbeMode::icmp ? ProbeKind::icmp : ProbeKind::udp) {}

void ProbeKindSelector::use(ProbeKind k) {
  if (in_use_ == k) return;
  in_use_ = k;
  ++switches_;
}

ProbeSends ProbeKindSelector::next_round(uint64_t) {
  ProbeSends s;
  switch (mode_) {
    case ProbeMode::udp: s.udp = true; break;
    case ProbeMode::icmp: s.icmp = true; break;
    case ProbeMode::automatic:
      s.udp = true;
      // The previous UDP probe is still unanswered one interval later: try ICMP too.
      s.icmp = in_use_ == ProbeKind::icmp || udp_silent_ >= 1;
      break;
  }
  if (s.udp) ++udp_silent_;
  return s;
}

bool ProbeKindSelector::echo(ProbeKind kind, uint64_t seq) {
  if (kind == ProbeKind::udp) {
    udp_silent_ = 0;
    udp_streak_ = last_udp_seq_ && seq == *last_udp_seq_ + 1 ? udp_streak_ + 1 : 1;
    last_udp_seq_ = seq;
    if (mode_ == ProbeMode::automatic && in_use_ == ProbeKind::icmp && udp_streak_ >= recover_after_)
      use(ProbeKind::udp);
  } else {
    icmp_streak_ = last_icmp_seq_ && seq == *last_icmp_seq_ + 1 ? icmp_streak_ + 1 : 1;
    last_icmp_seq_ = seq;
    // Two ICMP echoes in a row while UDP stays silent: when a dead path heals, the first
    // ICMP echo may beat the UDP one by microseconds, which is no reason to switch.
    if (mode_ == ProbeMode::automatic && in_use_ == ProbeKind::udp && udp_silent_ >= fallback_after_ &&
        icmp_streak_ >= 2)
      use(ProbeKind::icmp);
  }
  if (!answered_.insert(seq).second) return false;
  while (answered_.size() > kAnsweredWindow) answered_.erase(answered_.begin());
  return true;
}

}  // namespace outpost::vpn
