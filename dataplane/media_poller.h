#pragma once
// Readiness for every media socket through one Asio wait. Asio 1.74 re-arms a socket's
// async_wait with an epoll_ctl(2) each time, one system call per datagram at 50 pps per
// stream; instead the relay's sockets sit in their own (level-triggered) epoll set, and only
// that set's descriptor is waited on in the daemon's io_context: one wakeup serves every
// socket that became readable meanwhile. Still one thread, one event loop.
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <sys/epoll.h>

#include "common/result.h"

namespace outpost::media {

// What the poller calls when a registered socket is readable.
class ReadableSocket {
 public:
  virtual void on_readable() = 0;

 protected:
  ~ReadableSocket() = default;
};

class MediaPoller {
 public:
  explicit MediaPoller(boost::asio::io_context& io);
  MediaPoller(const MediaPoller&) = delete;
  MediaPoller& operator=(const MediaPoller&) = delete;

  // The target must stay alive until remove(fd) (or the fd is closed).
  Result<void> add(int fd, ReadableSocket& target);
  void remove(int fd);
  // Stops waiting (the daemon is stopping); add() afterwards still works but nothing is read.
  void stop();

 private:
  void wait();
  void dispatch();

  boost::asio::posix::stream_descriptor epoll_;
  bool waiting_ = false;
  bool stopped_ = false;
};

// One UDP socket owned by the relay, outside Asio's reactor (see above).
class UdpSocket {
 public:
  UdpSocket() = default;
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;
  ~UdpSocket() { close(); }
  // Opens a non-blocking UDP socket bound to address:port (sockaddr of the right family).
  Result<void> open(const sockaddr* address, socklen_t length);
  void close();
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

}  // namespace outpost::media
