#pragma once
// receive (probes): a BFD-like UDP echo on each uplink, ICMP echo as its fallback. One UDP
// socket (and, when ICMP is wanted, one ICMP socket: unprivileged SOCK_DGRAM ping socket if
// net.ipv4.ping_group_range allows, else SOCK_RAW with CAP_NET_RAW) per uplink, bound to the
// uplink's source address and, with SO_BINDTODEVICE, to its interface, so a probe leaves
// (and its echo is accepted) only through that uplink whatever the active route is. A
// steady timer sends one probe per uplink every interval, to every target, of the kinds the
// uplink's ProbeKindSelector asks for; the first echo of a sequence number counts. Parsing
// of echoes is here; what they mean is UplinkHealth's.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/log.h"
#include "common/net.h"
#include "vpn/failover_policy.h"
#include "vpn/probe_kind.h"

namespace outpost::vpn {

struct ProbePath {
  std::string ifname;
  IpAddress source;
  ProbeMode mode = ProbeMode::automatic;
  unsigned fallback_after = 3;  // UDP probes unanswered (while ICMP answers) before ICMP is used
};

// What `show uplinks` says about the probes of one uplink.
struct ProbeStatus {
  ProbeMode mode = ProbeMode::automatic;
  ProbeKind in_use = ProbeKind::udp;
  bool trying_icmp = false;
  uint64_t kind_switches = 0;
  std::string icmp_socket;  // "dgram" (ping socket), "raw", or "" when none is open
  std::string icmp_error;   // why the ICMP socket could not be opened, if so
  uint64_t udp_echoes = 0;
  uint64_t icmp_echoes = 0;
};

struct MonitorCounters {
  uint64_t send_errors = 0;
  uint64_t bad_echoes = 0;   // wrong size, magic, instance or source
  uint64_t socket_errors = 0;
};

class UplinkMonitor {
 public:
  struct Events {
    std::function<void(Path, uint64_t seq, TimePoint)> sent;
    std::function<void(Path, uint64_t seq, TimePoint)> echo;
    std::function<void(TimePoint)> tick;  // after each round of probes
  };

  UplinkMonitor(boost::asio::io_context& io, Logger log, Events events);
  ~UplinkMonitor();

  void set_targets(std::vector<Endpoint> targets) { targets_ = std::move(targets); }
  void set_interval(Millis interval) { interval_ = interval; }
  // Configures (or, with nullopt, removes) the probe path of one uplink; the socket is
  // (re)opened at the next probe.
  void set_path(Path path, std::optional<ProbePath> p);
  // Closes the socket of a path, e.g. after its interface was re-created (new ifindex).
  void reopen(Path path);
  void start();
  void stop();
  const MonitorCounters& counters() const { return counters_; }
  ProbeStatus probe_status(Path path) const;

 private:
  struct Channel {
    std::optional<ProbePath> path;
    std::unique_ptr<boost::asio::ip::udp::socket> socket;
    boost::asio::ip::udp::endpoint from;
    std::array<uint8_t, 64> buffer{};
    uint64_t seq = 0;
    std::string last_error;
    ProbeKindSelector selector;
    std::unique_ptr<boost::asio::posix::stream_descriptor> icmp;
    bool icmp_raw = false;
    uint16_t icmp_id = 0;
    std::array<uint8_t, 1500> icmp_buffer{};
    std::string icmp_error;
    uint64_t udp_echoes = 0;
    uint64_t icmp_echoes = 0;
  };
  void schedule();
  void round(TimePoint now);
  bool open(Path path, Channel& c);
  void receive(Path path, Channel& c);
  bool open_icmp(Path path, Channel& c);
  void receive_icmp(Path path, Channel& c);
  void read_icmp(Path path, Channel& c, TimePoint now);
  void send_icmp(Path path, Channel& c, uint64_t seq);

  boost::asio::io_context& io_;
  Logger log_;
  Events events_;
  std::vector<Endpoint> targets_;
  Millis interval_{50};
  boost::asio::steady_timer timer_;
  TimePoint next_{};
  std::array<Channel, 2> channels_;
  uint64_t instance_;
  MonitorCounters counters_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  bool running_ = false;
};

}  // namespace outpost::vpn
