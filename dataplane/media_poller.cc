#include "dataplane/media_poller.h"

#include <cerrno>
#include <cstring>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

namespace outpost::media {
Result<void> UdpSocket::open(const sockaddr* address, socklen_t length, bool share_port) {
  close();
  fd_ = ::socket(address->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return make_error(std::strerror(errno));
  const int on = 1;
  if ((share_port && ::setsockopt(fd_, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) ||
      ::bind(fd_, address, length) != 0) {
    const int e = errno;
    close();
    return make_error(std::strerror(e));
  }
  return {};
}

Result<void> UdpSocket::connect(const sockaddr* peer, socklen_t length) {
  if (::connect(fd_, peer, length) != 0) return make_error(std::strerror(errno));
  // An ICMP error from the previous peer may still be pending: it must not fail the first
  // send to this one.
  int pending = 0;
  socklen_t size = sizeof pending;
  ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &pending, &size);
  return {};
}

void UdpSocket::stop_sharing() {
  const int off = 0;
  if (fd_ >= 0) ::setsockopt(fd_, SOL_SOCKET, SO_REUSEPORT, &off, sizeof off);
}

void UdpSocket::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace outpost::media
