#pragma once
// receive (probes): a BFD-like UDP echo on each uplink. One socket per uplink, bound to the
// uplink's source address and, with SO_BINDTODEVICE, to its interface, so a probe leaves
// (and its echo is accepted) only through that uplink whatever the active route is. A
// steady timer sends one probe per uplink every interval, to every target; the first echo
// of a sequence number counts. Parsing of echoes is here; what they mean is UplinkHealth's.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
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

namespace outpost::vpn {

struct ProbePath {
  std::string ifname;
  IpAddress source;
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

 private:
  struct Channel {
    std::optional<ProbePath> path;
    std::unique_ptr<boost::asio::ip::udp::socket> socket;
    boost::asio::ip::udp::endpoint from;
    std::array<uint8_t, 64> buffer{};
    uint64_t seq = 0;
    std::string last_error;
  };
  void schedule();
  void round(TimePoint now);
  bool open(Path path, Channel& c);
  void receive(Path path, Channel& c);

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
