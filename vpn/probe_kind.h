#pragma once
// decide (which probe): the vendors run a UDP echo (BFD-like) on their probe targets; ICMP
// echo is the fallback when that service does not answer. ProbeKindSelector is the pure
// part, one per uplink: what to send each round and which echo counts. No sockets, no clock:
// UplinkMonitor sends what it says and reports echoes back, unit tests replay sequences.
//
// auto: UDP. As soon as the previous UDP probe went unanswered, ICMP is sent alongside
// (a trial); once UDP has been silent for `fallback_after` probes while ICMP answered the
// last two, ICMP is the kind in use. UDP keeps being sent: after `recover_after` consecutive UDP echoes, UDP
// is in use again and ICMP stops. The first echo of a sequence number, of either kind, is
// the one that counts, so a silently cut path (neither answers) is detected exactly as with
// UDP alone, and a vendor whose UDP echo stops does not look like a dead path.
#include <cstdint>
#include <optional>
#include <set>
#include <string>

namespace outpost::vpn {

enum class ProbeKind { udp, icmp };
enum class ProbeMode { udp, icmp, automatic };
const char* to_string(ProbeKind k);
const char* to_string(ProbeMode m);
// "udp", "icmp", "auto"
std::optional<ProbeMode> parse_probe_mode(const std::string& text);

struct ProbeSends {
  bool udp = false;
  bool icmp = false;
};

class ProbeKindSelector {
 public:
  explicit ProbeKindSelector(ProbeMode mode = ProbeMode::automatic, unsigned fallback_after = 3,
                             unsigned recover_after = 3);

  // The kinds to send for probe `seq` (call once per round, seq increasing).
  ProbeSends next_round(uint64_t seq);
  // An echo of `kind` for `seq`: true if it is the first echo of that probe (it counts).
  bool echo(ProbeKind kind, uint64_t seq);

  ProbeMode mode() const { return mode_; }
  ProbeKind in_use() const { return in_use_; }
  // auto, UDP in use but unanswered: ICMP is being tried alongside.
  bool trying_icmp() const { return mode_ == ProbeMode::automatic && in_use_ == ProbeKind::udp && udp_silent_ > 1; }
  uint64_t switches() const { return switches_; }
  unsigned udp_silent() const { return udp_silent_; }

 private:
  void use(ProbeKind k);

  ProbeMode mode_;
  unsigned fallback_after_;
  unsigned recover_after_;
  ProbeKind in_use_;
  unsigned udp_silent_ = 0;  // UDP probes sent since the last UDP echo (incl. the one in flight)
  unsigned udp_streak_ = 0;  // consecutive sequence numbers answered over UDP
  std::optional<uint64_t> last_udp_seq_;
  unsigned icmp_streak_ = 0;  // consecutive sequence numbers answered over ICMP
  std::optional<uint64_t> last_icmp_seq_;
  std::set<uint64_t> answered_;  // recent sequence numbers already counted (bounded)
  uint64_t switches_ = 0;
};

}  // namespace outpost::vpn
