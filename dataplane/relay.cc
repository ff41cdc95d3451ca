#include "dataplane/relay.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>

namespace outpost::dataplane {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

constexpr int kPipeSize = 256 * 1024;
constexpr size_t kSpliceChunk = 256 * 1024;
constexpr int kRoundsPerTurn = 16;  // then yield to other connections

void reset_and_close(tcp::socket& s) {
  boost::system::error_code ec;
  if (!s.is_open()) return;
  s.set_option(asio::socket_base::linger(true, 0), ec);
  s.close(ec);
}

void close_quietly(tcp::socket& s) {
  boost::system::error_code ec;
  if (s.is_open()) s.close(ec);
}

}  // namespace

const char* to_string(RelayEnd e) {
  switch (e) {
    case RelayEnd::closed: return "closed";
    case RelayEnd::reset: return "reset";
    case RelayEnd::idle: return "idle";
    case RelayEnd::stopped: return "stopped";
  }
  return "?";
}

Relay::Relay(tcp::socket& client, tcp::socket& upstream, RelayMode mode, std::chrono::seconds idle, Hooks hooks,
             std::weak_ptr<void> owner, std::shared_ptr<BufferPool> pool)
    : client_(client),
      upstream_(upstream),
      mode_(mode),
      idle_(idle),
      hooks_(std::move(hooks)),
      owner_(std::move(owner)),
      pool_(std::move(pool)),
      dirs_{Direction{&client, &upstream, true}, Direction{&upstream, &client, false}},
      idle_timer_(client.get_executor()) {}

std::unique_ptr<uint8_t[]> BufferPool::take() {
  if (free_.empty()) return std::unique_ptr<uint8_t[]>(new uint8_t[kBufferSize]);  // uninitialized
  auto b = std::move(free_.back());
  free_.pop_back();
  return b;
}

void BufferPool::give(std::unique_ptr<uint8_t[]> buffer) {
  if (buffer && free_.size() < kMaxIdle) free_.push_back(std::move(buffer));
}

Relay::~Relay() {
  for (auto& d : dirs_)
    if (d.buffer) pool_->give(std::move(d.buffer));
  for (auto& d : dirs_)
    for (int& fd : d.pipe)
      if (fd >= 0) ::close(fd), fd = -1;
}

void Relay::start() {
  started_ = true;
  last_activity_ = std::chrono::steady_clock::now();
  arm_idle_timer();
  for (auto& d : dirs_) {
    if (mode_ == RelayMode::splice) d.spliced = open_pipe(d);  // else copying still works
    pump(d);
  }
}

bool Relay::open_pipe(Direction& d) {
  if (::pipe2(d.pipe, O_NONBLOCK | O_CLOEXEC) != 0) return false;  // out of descriptors
  ::fcntl(d.pipe[1], F_SETPIPE_SZ, kPipeSize);                      // best effort; 64 KiB otherwise
  // splice(2) has no per-call "don't wait" for the socket end: the sockets must be.
  boost::system::error_code ec;
  d.from->native_non_blocking(true, ec);
  d.to->native_non_blocking(true, ec);
  return true;
}

void Relay::moved(Direction& d, size_t n) {
  last_activity_ = std::chrono::steady_clock::now();
  if (hooks_.on_bytes) hooks_.on_bytes(d.to_upstream, n);
}

// The FIN from d.from has been read and everything before it delivered: pass it on.
void Relay::end_direction(Direction& d) {
  d.done = true;
  boost::system::error_code ec;
  d.to->shutdown(tcp::socket::shutdown_send, ec);
  if (dirs_[0].done && dirs_[1].done) finish(RelayEnd::closed);
}

void Relay::wait(Direction& d, bool for_write) {
  auto* socket = for_write ? d.to : d.from;
  socket->async_wait(for_write ? tcp::socket::wait_write : tcp::socket::wait_read,
                     [this, &d, keep = owner_.lock()](boost::system::error_code ec) {
                       if (ended_) return;
                       if (ec) return ec == asio::error::operation_aborted ? void() : finish(RelayEnd::reset);
                       pump(d);
                     });
}

void Relay::pump_splice(Direction& d) {
  if (ended_) return;
  const int from = d.from->native_handle(), to = d.to->native_handle();
  for (int round = 0; round < kRoundsPerTurn; ++round) {
    if (d.in_pipe > 0) {
      ssize_t n = ::splice(d.pipe[0], nullptr, to, nullptr, d.in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        d.in_pipe -= size_t(n);
        moved(d, size_t(n));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return wait(d, true);
      return finish(RelayEnd::reset);
    }
    if (d.eof) return end_direction(d);
    ssize_t n = ::splice(from, nullptr, d.pipe[1], nullptr, kSpliceChunk, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) d.in_pipe = size_t(n);
    else if (n == 0) d.eof = true;
    else if (errno == EAGAIN || errno == EINTR) return wait(d, false);
    else return finish(RelayEnd::reset);
  }
  asio::post(client_.get_executor(), [this, &d, keep = owner_.lock()] { pump_splice(d); });
}

void Relay::pump_copy(Direction& d) {
  if (ended_) return;
  const int from = d.from->native_handle(), to = d.to->native_handle();
  for (int round = 0; round < kRoundsPerTurn; ++round) {
    if (d.begin < d.end) {
      ssize_t n = ::send(to, d.data + d.begin, d.end - d.begin, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        d.begin += size_t(n);
        moved(d, size_t(n));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return wait(d, true);
      return finish(RelayEnd::reset);
    }
    if (d.eof) return end_direction(d);
    if (!d.burst) return read_small(d);
    if (mode_ == RelayMode::automatic && open_pipe(d)) {
      d.spliced = true;  // a bulk transfer: the kernel moves the rest
      return pump_splice(d);
    }
    if (!d.buffer) d.buffer = pool_->take();
    ssize_t n = ::recv(from, d.buffer.get(), BufferPool::kBufferSize, MSG_DONTWAIT);
    if (n > 0) {
      d.data = d.buffer.get();
      d.begin = 0;
      d.end = size_t(n);
    } else if (n == 0) {
      d.eof = true;
    } else if (errno == EAGAIN || errno == EINTR) {
      pool_->give(std::move(d.buffer));  // the burst is over
      d.burst = false;
      return read_small(d);
    } else {
      return finish(RelayEnd::reset);
    }
  }
  asio::post(client_.get_executor(), [this, &d, keep = owner_.lock()] { pump_copy(d); });
}

// Through the reactor: Asio tries the read at once and otherwise waits for readiness
// without re-arming epoll (async_wait would cost an epoll_ctl per wait).
void Relay::read_small(Direction& d) {
  d.from->async_read_some(asio::buffer(d.small), [this, &d, keep = owner_.lock()](boost::system::error_code ec, size_t n) {
    if (ended_) return;
    if (ec == asio::error::eof) {
      d.eof = true;
      return pump_copy(d);
    }
    if (ec) return ec == asio::error::operation_aborted ? void() : finish(RelayEnd::reset);
    d.data = d.small.data();
    d.begin = 0;
    d.end = n;
    d.burst = n == d.small.size();
    pump_copy(d);
  });
}

void Relay::arm_idle_timer() {
  auto deadline = last_activity_ + idle_;
  idle_timer_.expires_at(deadline);
  idle_timer_.async_wait([this, keep = owner_.lock()](boost::system::error_code ec) {
    if (ec || ended_) return;
    if (std::chrono::steady_clock::now() - last_activity_ >= idle_) return finish(RelayEnd::idle);
    arm_idle_timer();
  });
}

void Relay::finish(RelayEnd end) {
  if (ended_) return;
  ended_ = true;
  idle_timer_.cancel();
  if (end == RelayEnd::closed) {
    close_quietly(client_);
    close_quietly(upstream_);
  } else {
    reset_and_close(client_);
    reset_and_close(upstream_);
  }
  if (hooks_.on_end) hooks_.on_end(end);
}

}  // namespace outpost::dataplane
