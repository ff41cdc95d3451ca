#include "dataplane/media_poller.h"

#include <cerrno>
#include <cstring>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

namespace outpost::media {
namespace {
constexpr int kEvents = 64;       // ready sockets taken per epoll_wait
constexpr int kRoundsPerWakeup = 4;  // then back to the io_context so other components run
}  // namespace

MediaPoller::MediaPoller(boost::asio::io_context& io) : epoll_(io) {
  const int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd >= 0) epoll_.assign(fd);
}

Result<void> MediaPoller::add(int fd, ReadableSocket& target) {
  if (!epoll_.is_open()) return make_error("media: no epoll descriptor");
  epoll_event ev{};
  ev.events = EPOLLIN;  // level-triggered: a socket left non-empty (fairness cap) comes back
  ev.data.ptr = &target;
  if (::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_ADD, fd, &ev) != 0)
    return make_error(std::string("media: epoll_ctl: ") + std::strerror(errno));
  if (!waiting_ && !stopped_) wait();
  return {};
}

void MediaPoller::remove(int fd) {
  if (epoll_.is_open()) ::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_DEL, fd, nullptr);
}

void MediaPoller::stop() {
  stopped_ = true;
  boost::system::error_code ec;
  epoll_.cancel(ec);
}

void MediaPoller::wait() {
  waiting_ = true;
  epoll_.async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](boost::system::error_code ec) {
    if (ec) return;  // cancelled: the poller may be gone, touch nothing
    waiting_ = false;
    if (stopped_) return;
    dispatch();
    wait();
  });
}

void MediaPoller::dispatch() {
  epoll_event events[kEvents];
  for (int round = 0; round < kRoundsPerWakeup; ++round) {
    const int n = ::epoll_wait(epoll_.native_handle(), events, kEvents, 0);
    for (int i = 0; i < n; ++i) static_cast<ReadableSocket*>(events[i].data.ptr)->on_readable();
    if (n < kEvents) break;
  }
}

Result<void> UdpSocket::open(const sockaddr* address, socklen_t length) {
  close();
  fd_ = ::socket(address->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return make_error(std::strerror(errno));
  if (::bind(fd_, address, length) != 0) {
    const int e = errno;
    close();
    return make_error(std::strerror(e));
  }
  return {};
}

void UdpSocket::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace outpost::media
