#pragma once
// Moves bytes both ways between two connected TCP sockets until both directions have
// closed: a FIN from one side becomes a shutdown(SHUT_WR) on the other (half-close), an
// error on either side resets both, and a connection idle for `idle` is closed.
// Two engines, chosen by tls.relay (copy, splice, or auto: copy that switches a direction
// to splice when it starts a bulk transfer): splice(2) through a pipe per direction (no
// copy into user space), or non-blocking recv/send. The sockets stay in the session's
// edge-triggered FdPoller registration; the session passes their events on (ready()), and a
// direction makes a system call only when its Readiness says it can progress. Copy mode reads a waiting direction into a 16 KiB
// buffer of its own (one TLS record) and bursts into 64 KiB buffers from a shared pool,
// which go back as soon as the burst ends, so idle connections hold no large buffer.
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "dataplane/fd_poller.h"

namespace outpost::dataplane {

// copy: recv/send only. splice: splice(2) from the start. auto: copy, and a direction
// whose read fills the 16 KiB buffer (a bulk transfer) switches to splice(2) for good.
enum class RelayMode { splice, copy, automatic };

// Copy buffers shared by every relay on the io_context (single-threaded use).
class BufferPool {
 public:
  static constexpr size_t kBufferSize = 64 * 1024;
  std::unique_ptr<uint8_t[]> take();
  void give(std::unique_ptr<uint8_t[]> buffer);
  size_t idle() const { return free_.size(); }

 private:
  static constexpr size_t kMaxIdle = 256;
  std::vector<std::unique_ptr<uint8_t[]>> free_;
};

enum class RelayEnd {
  closed,   // both sides closed their direction (FIN both ways)
  reset,    // a read or write failed (a peer reset, unreachable, ...): both were reset
  idle,     // nothing moved for the idle timeout
  stopped,  // the daemon stopped it
};
const char* to_string(RelayEnd e);

class Relay {
 public:
  struct Hooks {
    std::function<void(bool to_upstream, size_t bytes)> on_bytes;  // as they move
    std::function<void(RelayEnd)> on_end;                            // once
  };

  // The sockets belong to `owner` (the session), which must outlive the relay's work:
  // every pending operation holds `owner` alive. The relay closes them when it ends.
  Relay(boost::asio::io_context& io, OwnedFd& client, OwnedFd& upstream, RelayMode mode, std::chrono::seconds idle,
        Hooks hooks, std::weak_ptr<void> owner, std::shared_ptr<BufferPool> pool);
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // What each socket is known to be ready for when the relay takes over.
  void start(Readiness client, Readiness upstream);
  // Epoll events of one of the sockets.
  void ready(bool upstream_side, uint32_t events);
  void stop() { finish(RelayEnd::stopped); }
  bool running() const { return started_ && !ended_; }

 private:
  struct Direction {
    Direction(OwnedFd* f, OwnedFd* t, Readiness* fr, Readiness* tr, bool up)
        : from(f), to(t), from_ready(fr), to_ready(tr), to_upstream(up) {}
    OwnedFd* from;
    OwnedFd* to;
    Readiness* from_ready;
    Readiness* to_ready;
    bool to_upstream;
    int pipe[2] = {-1, -1};           // splice mode
    size_t in_pipe = 0;
    // Copy mode. A direction reads into `small` (no pool buffer held while idle); a full
    // small read means a burst: recv() into a pool buffer until drained.
    std::array<uint8_t, 16 * 1024> small;
    std::unique_ptr<uint8_t[]> buffer;
    const uint8_t* data = nullptr;       // small or buffer
    size_t begin = 0, end = 0;           // the bytes at data not yet sent
    bool burst = false;
    bool spliced = false;                // this direction moves through its pipe
    bool eof = false;
    bool broken = false;                 // copy mode: the connection of `from` is gone (EPOLLERR)
    bool done = false;
  };

  void pump_splice(Direction& d);
  void pump_copy(Direction& d);
  bool open_pipe(Direction& d);
  void pump(Direction& d) { d.spliced ? pump_splice(d) : pump_copy(d); }
  void end_direction(Direction& d);
  void moved(Direction& d, size_t n);
  void arm_idle_timer();
  void failed(OwnedFd& socket, int error);  // a system call on it failed with errno `error`
  void finish(RelayEnd end);

  boost::asio::io_context& io_;
  OwnedFd& client_;
  OwnedFd& upstream_;
  Readiness client_ready_, upstream_ready_;
  RelayMode mode_;
  std::chrono::seconds idle_;
  Hooks hooks_;
  std::weak_ptr<void> owner_;
  std::shared_ptr<BufferPool> pool_;
  std::array<Direction, 2> dirs_;
  boost::asio::steady_timer idle_timer_;
  std::chrono::steady_clock::time_point last_activity_;
  OwnedFd* reset_by_peer_ = nullptr;  // client_ or upstream_, when the relay ends on its ECONNRESET
  bool started_ = false;
  bool ended_ = false;
};

}  // namespace outpost::dataplane
