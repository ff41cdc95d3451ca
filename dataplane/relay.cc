#include "dataplane/relay.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>

namespace outpost::dataplane {
namespace {

namespace asio = boost::asio;

constexpr int kPipeSize = 256 * 1024;
constexpr size_t kSpliceChunk = 256 * 1024;
constexpr int kRoundsPerTurn = 16;  // then yield to other connections

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

Relay::Relay(asio::io_context& io, OwnedFd& client, OwnedFd& upstream, RelayMode mode, std::chrono::seconds idle,
             Hooks hooks, std::weak_ptr<void> owner, std::shared_ptr<BufferPool> pool)
    : io_(io),
      client_(client),
      upstream_(upstream),
      mode_(mode),
      idle_(idle),
      hooks_(std::move(hooks)),
      owner_(std::move(owner)),
      pool_(std::move(pool)),
      dirs_{Direction{&client, &upstream, &client_ready_, &upstream_ready_, true},
            Direction{&upstream, &client, &upstream_ready_, &client_ready_, false}},
      idle_timer_(io) {}

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

void Relay::start(Readiness client, Readiness upstream) {
  client_ready_ = client;
  upstream_ready_ = upstream;
  started_ = true;
  last_activity_ = std::chrono::steady_clock::now();
  arm_idle_timer();
  for (auto& d : dirs_) {
    if (mode_ == RelayMode::splice) d.spliced = open_pipe(d);  // else copying still works
    pump(d);
  }
}

void Relay::ready(bool upstream_side, uint32_t events) {
  if (!running()) return;
  (upstream_side ? upstream_ready_ : client_ready_).add(events);
  for (auto& d : dirs_)
    if (!d.done) pump(d);
}

// The sockets are non-blocking (accept4/socket with SOCK_NONBLOCK): splice(2) has no
// per-call "don't wait" for the socket end.
bool Relay::open_pipe(Direction& d) {
  if (::pipe2(d.pipe, O_NONBLOCK | O_CLOEXEC) != 0) return false;  // out of descriptors
  ::fcntl(d.pipe[1], F_SETPIPE_SZ, kPipeSize);                      // best effort; 64 KiB otherwise
  return true;
}

void Relay::moved(Direction& d, size_t n) {
  last_activity_ = std::chrono::steady_clock::now();
  if (hooks_.on_bytes) hooks_.on_bytes(d.to_upstream, n);
}

// The FIN from d.from has been read and everything before it delivered: pass it on.
// When the other direction has ended already, close(2) sends that FIN (d.to's own FIN has
// been read, so nothing unread there turns the close into an RST): no shutdown(2) for it.
void Relay::end_direction(Direction& d) {
  d.done = true;
  if (dirs_[0].done && dirs_[1].done) return finish(RelayEnd::closed);
  ::shutdown(d.to->get(), SHUT_WR);
}

void Relay::pump_splice(Direction& d) {
  if (ended_ || d.done) return;
  const int from = d.from->get(), to = d.to->get();
  for (int round = 0; round < kRoundsPerTurn; ++round) {
    if (d.in_pipe > 0) {
      if (!d.to_ready->writable) return;  // the next EPOLLOUT resumes
      ssize_t n = ::splice(d.pipe[0], nullptr, to, nullptr, d.in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        d.in_pipe -= size_t(n);
        moved(d, size_t(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return void(d.to_ready->writable = false);
      return failed(*d.to, n < 0 ? errno : 0);
    }
    if (d.eof) return end_direction(d);
    if (!d.from_ready->readable) return;  // the next EPOLLIN resumes
    // A short splice may mean a full pipe, not a drained socket: only EAGAIN says drained.
    ssize_t n = ::splice(from, nullptr, d.pipe[1], nullptr, kSpliceChunk, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) d.in_pipe = size_t(n);
    else if (n == 0) d.eof = true;
    else if (errno == EAGAIN) return void(d.from_ready->readable = false);
    else if (errno != EINTR) return failed(*d.from, errno);
  }
  asio::post(io_, [this, &d, keep = owner_.lock()] { pump_splice(d); });
}

void Relay::pump_copy(Direction& d) {
  if (ended_ || d.done) return;
  const int from = d.from->get(), to = d.to->get();
  for (int round = 0; round < kRoundsPerTurn; ++round) {
    if (d.begin < d.end) {
      if (!d.to_ready->writable) return;  // the next EPOLLOUT resumes
      const size_t want = d.end - d.begin;
      // The FIN follows these bytes: MSG_MORE holds them until the shutdown or close, so
      // they leave in one segment with it (one packet less for both peers' kernels).
      const int more = d.eof ? MSG_MORE : 0;
      ssize_t n = ::send(to, d.data + d.begin, want, MSG_NOSIGNAL | MSG_DONTWAIT | more);
      if (n > 0) {
        d.begin += size_t(n);
        if (size_t(n) < want) d.to_ready->writable = false;  // the send buffer is full
        moved(d, size_t(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return void(d.to_ready->writable = false);
      return failed(*d.to, n < 0 ? errno : 0);
    }
    if (d.eof) return end_direction(d);
    // What was read before the error has been passed on; the peer's socket needs no RST.
    if (d.broken) return failed(*d.from, ECONNRESET);
    if (!d.from_ready->readable) {
      if (d.buffer) pool_->give(std::move(d.buffer));  // the burst is over
      d.burst = false;
      return;  // the next EPOLLIN resumes
    }
    uint8_t* into = d.small.data();
    size_t room = d.small.size();
    if (d.burst) {
      if (mode_ == RelayMode::automatic && open_pipe(d)) {
        d.spliced = true;  // a bulk transfer: the kernel moves the rest
        return pump_splice(d);
      }
      if (!d.buffer) d.buffer = pool_->take();
      into = d.buffer.get();
      room = BufferPool::kBufferSize;
    }
    ssize_t n = ::recv(from, into, room, MSG_DONTWAIT);
    if (n > 0) {
      d.data = into;
      d.begin = 0;
      d.end = size_t(n);
      if (size_t(n) < room) {
        // Drained: no read that ends in EAGAIN, nor one that only returns 0 or the error.
        d.from_ready->short_read();
        d.eof = d.from_ready->fin_follows_short_read();
        d.broken = d.from_ready->error_follows_short_read();
      } else {
        d.burst = true;
      }
    } else if (n == 0) {
      d.eof = true;
    } else if (errno == EAGAIN) {
      d.from_ready->readable = false;
    } else if (errno != EINTR) {
      return failed(*d.from, errno);
    }
  }
  asio::post(io_, [this, &d, keep = owner_.lock()] { pump_copy(d); });
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

// A read or write on `socket` failed: reset both, except that a connection the peer reset
// (ECONNRESET) needs no RST of ours.
void Relay::failed(OwnedFd& socket, int error) {
  if (error == ECONNRESET) reset_by_peer_ = &socket;
  finish(RelayEnd::reset);
}

void Relay::finish(RelayEnd end) {
  if (ended_) return;
  ended_ = true;
  idle_timer_.cancel();
  if (end == RelayEnd::closed) {
    client_.close();
    upstream_.close();
  } else {
    // A socket the peer has reset is closed already on the wire: only the other one needs
    // the RST (SO_LINGER 0), which saves a setsockopt(2) per connection whose client or
    // vendor ends with a reset (HTTPS clients commonly do).
    for (OwnedFd* socket : {&client_, &upstream_}) {
      if (socket == reset_by_peer_) socket->close();
      else socket->reset();
    }
  }
  if (hooks_.on_end) hooks_.on_end(end);
}

}  // namespace outpost::dataplane
