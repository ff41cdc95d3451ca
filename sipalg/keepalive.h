#pragma once
// NAT keep-alive towards UDP devices (README.md "NAT keep-alive policy"): every interval,
// one OPTIONS from outpost's LAN address and the port the device registered through, to
// each registered UDP device's flow (its source address as outpost saw it, i.e. the outer
// side of its NAT). A round is spread over the interval: the timer fires every second and
// pings the devices whose slice (a hash of the contact token) is due, so 30,000 devices
// cost 1,200 pings a second, not one 30,000-datagram burst holding the daemon's thread (SIP
// handlers, media relay turns) for an estimated ~0.1 s every round. The request keeps the
// device's NAT/firewall pinhole open; any answer (200, 404, 405, ...) proves the flow works. A device that leaves `kMissesUnreachable`
// pings in a row unanswered is shown as unreachable (`show sip registrations`); its binding
// is kept until the vendor's expiry (see README for why). TCP/TLS devices keep their own
// flows with RFC 5626 CRLF pings, which the transport answers (framing.cc).
//   tick: decide which bindings to ping -> build OPTIONS -> send -> count.
//   on_response: a response whose top Via has outpost's keep-alive branch -> mark -> count.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "sipalg/bindings.h"
#include "sipalg/flow.h"
#include "sipalg/message.h"
#include "sipalg/stats.h"
#include "sipalg/transport.h"

namespace outpost::sip {

// Keep-alive branches start with this (an outpost branch, so a ping looping back is a 482).
inline constexpr const char* kKeepAliveBranch = "z9hG4bK-opka";

class KeepAlive {
 public:
  static constexpr unsigned kMissesUnreachable = 3;

  KeepAlive(boost::asio::io_context& io, Sender& sender, const Bindings& bindings, SipCounters& counters)
      : sender_(sender), bindings_(bindings), counters_(counters), timer_(io) {}
  ~KeepAlive() { stop(); }
  KeepAlive(const KeepAlive&) = delete;
  KeepAlive& operator=(const KeepAlive&) = delete;

  // Pings every `interval` (0: off) from outpost's identity `me`.
  void start(std::chrono::seconds interval, const Identity& me);
  void set_identity(const Identity& me) { me_ = me; }
  void stop();

  // One whole round: counts last round's unanswered pings as failed, pings every registered
  // UDP device once. Returns how many pings were sent.
  size_t tick(int64_t now) { return tick_slice(now, 0, 1); }
  // The part of a round for the devices in `slice` of `slices` (slice_of): what the timer
  // runs each second, with as many slices as the interval has seconds.
  size_t tick_slice(int64_t now, unsigned slice, unsigned slices);
  // Which of `slices` a device's contact token is pinged in: fixed for the token, so each
  // device is pinged once per interval, and spread evenly over the devices.
  static unsigned slice_of(const std::string& token, unsigned slices);
  // True when `m` answers one of our pings (then it is consumed here).
  bool on_response(const Flow& from, const Message& m, int64_t now);

  // Per contact token: last ping, last answer, misses in a row, reachable.
  nlohmann::json state(const std::string& token, int64_t now) const;

 private:
  struct Peer {
    std::string branch;  // of the ping in flight ("" once answered)
    int64_t last_sent = 0, last_answer = 0;
    int last_status = 0;
    unsigned misses = 0;
  };
  void schedule();

  Sender& sender_;
  const Bindings& bindings_;
  SipCounters& counters_;
  boost::asio::steady_timer timer_;
  std::chrono::seconds interval_{0};
  Identity me_;
  std::map<std::string, Peer> peers_;           // contact token -> state
  std::map<std::string, std::string> by_branch_;  // ping branch -> contact token
  uint64_t seq_ = 0;
  unsigned next_slice_ = 0;
  bool running_ = false;
};

}  // namespace outpost::sip
