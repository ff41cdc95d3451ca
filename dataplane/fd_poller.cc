#include "dataplane/fd_poller.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace outpost::dataplane {
namespace {
constexpr int kEvents = 64;          // events taken per epoll_wait
constexpr int kRoundsPerWakeup = 4;  // then back to the io_context so other components run
}  // namespace

FdPoller::FdPoller(boost::asio::io_context& io) : epoll_(io) {
  const int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd >= 0) epoll_.assign(fd);
}

Result<void> FdPoller::add(int fd, uint32_t events, PolledFd& target) {
  if (!epoll_.is_open()) return make_error("no epoll descriptor");
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = &target;
  if (::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_ADD, fd, &ev) != 0)
    return make_error(std::string("epoll_ctl: ") + std::strerror(errno));
  if (!waiting_ && !stopped_) wait();
  return {};
}

void FdPoller::remove(int fd) {
  if (epoll_.is_open()) ::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_DEL, fd, nullptr);
}

void FdPoller::stop() {
  stopped_ = true;
  boost::system::error_code ec;
  epoll_.cancel(ec);
}

void FdPoller::wait() {
  if (waiting_) return;  // add() during dispatch(): one wait at a time, or each wakeup would multiply
  waiting_ = true;
  epoll_.async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](boost::system::error_code ec) {
    if (ec) return;  // cancelled: the poller may be gone, touch nothing
    waiting_ = false;
    if (stopped_) return;
    dispatch();
    wait();
  });
}

void FdPoller::dispatch() {
  epoll_event events[kEvents];
  for (int round = 0; round < kRoundsPerWakeup; ++round) {
    const int n = ::epoll_wait(epoll_.native_handle(), events, kEvents, 0);
    for (int i = 0; i < n; ++i) static_cast<PolledFd*>(events[i].data.ptr)->on_events(events[i].events);
    if (n < kEvents) break;
  }
}

void OwnedFd::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void OwnedFd::reset() {
  if (fd_ < 0) return;
  linger l{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close();
}

}  // namespace outpost::dataplane
