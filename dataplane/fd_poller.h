#pragma once
// Readiness for the dataplane's own sockets (TLS passthrough, media relay) through one Asio wait. Asio 1.74 re-arms a
// descriptor with an epoll_ctl(2) on every async_wait and tries a speculative read (often
// EAGAIN) on every async_read_some: two of the ~34 system calls a relayed connection cost.
// Here each socket is added once, edge-triggered, to the poller's own epoll set for its whole
// life (listener, LAN connection, upstream connection) and only the set's descriptor is waited
// on in the daemon's io_context. Targets keep a Readiness per socket: a short read means the
// socket is drained, so no read ends in EAGAIN. The media relay registers its UDP sockets
// level-triggered for reading (EPOLLIN) in a poller of its own.
#include <sys/epoll.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstdint>

#include "common/result.h"

namespace outpost::dataplane {

// What the poller calls with the epoll events of a registered descriptor.
class PolledFd {
 public:
  virtual void on_events(uint32_t events) = 0;

 protected:
  ~PolledFd() = default;
};

// What an edge-triggered socket is known to be ready for; set by events, cleared by the
// system call that finds it exhausted.
struct Readiness {
  bool readable = false;
  bool writable = false;
  bool peer_closed = false;  // EPOLLRDHUP seen: a read after a short read returns the FIN
  bool failed = false;       // EPOLLERR seen: the next read may return the error, not the FIN
  void add(uint32_t events) {
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readable = true;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) writable = true;
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) peer_closed = true;
    if (events & EPOLLERR) failed = true;
  }
  // After a read that returned less than asked: drained, unless a FIN is still to be read.
  void short_read() { readable = peer_closed; }
  // After a short read: the peer's FIN has arrived (EPOLLRDHUP, no error) and everything
  // before it has been read, so the next read would return 0. HAProxy reads the end of a
  // stream the same way: one recv(2) per closing direction saved.
  bool fin_follows_short_read() const { return peer_closed && !failed; }
  // After a short read: the next read would return the error EPOLLERR announced. On a TCP
  // socket without IP_RECVERR that error is fatal (reset, timeout), so it need not be read.
  bool error_follows_short_read() const { return failed; }
};

class FdPoller {
 public:
  static constexpr uint32_t kStream = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;

  explicit FdPoller(boost::asio::io_context& io);
  FdPoller(const FdPoller&) = delete;
  FdPoller& operator=(const FdPoller&) = delete;

  // The target must stay alive until the descriptor is closed or removed, and at least until
  // the io_context has run once more after that (events of a batch may still name it).
  Result<void> add(int fd, uint32_t events, PolledFd& target);
  void remove(int fd);
  void stop();

 private:
  void wait();
  void dispatch();

  boost::asio::posix::stream_descriptor epoll_;
  bool waiting_ = false;
  bool stopped_ = false;
};

// A socket descriptor outside Asio's reactor; closing it also takes it out of the epoll set.
class OwnedFd {
 public:
  OwnedFd() = default;
  explicit OwnedFd(int fd) : fd_(fd) {}
  OwnedFd(OwnedFd&& o) noexcept : fd_(o.release()) {}
  OwnedFd& operator=(OwnedFd&& o) noexcept {
    if (this != &o) close(), fd_ = o.release();
    return *this;
  }
  ~OwnedFd() { close(); }
  int get() const { return fd_; }
  bool is_open() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void close();
  void reset();  // close with an RST (SO_LINGER 0)

 private:
  int fd_ = -1;
};

}  // namespace outpost::dataplane
