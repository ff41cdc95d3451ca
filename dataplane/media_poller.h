#pragma once
// The media relay's UDP sockets live outside Asio's reactor: Asio 1.74 re-arms a socket's
// async_wait with an epoll_ctl(2) each time, one system call per datagram at 50 pps per
// stream. They sit, level-triggered (EPOLLIN), in the relay's own epoll set (the dataplane's
// FdPoller, fd_poller.h): one wakeup serves every socket that became readable meanwhile, and a
// socket left non-empty by the fairness cap comes back.
#include <sys/socket.h>

#include "common/result.h"

namespace outpost::media {

// One UDP socket owned by the relay, outside Asio's reactor (see above).
class UdpSocket {
 public:
  UdpSocket() = default;
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;
  ~UdpSocket() { close(); }
  // Opens a non-blocking UDP socket bound to address:port (sockaddr of the right family).
  // share_port: SO_REUSEPORT, so that a second socket of this process (same user) may bind
  // the same address and port, as the io_uring engine's connected sending sockets do.
  Result<void> open(const sockaddr* address, socklen_t length, bool share_port = false);
  // Sets the default destination (connect(2)): sends need no address and skip the route
  // look-up; the kernel then delivers this peer's datagrams to this socket.
  Result<void> connect(const sockaddr* peer, socklen_t length);
  // Clears SO_REUSEPORT once every socket meant to share the port is bound: a later bind by
  // anyone, even of the same user, then fails with EADDRINUSE again. Delivery between the
  // bound sockets goes by address match (a connected socket wins for its peer).
  void stop_sharing();
  void close();
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

}  // namespace outpost::media
