#pragma once
// The media relay's io_uring engine. At 50 pps per stream the epoll engine (FdPoller) pays,
// for every datagram, a share of epoll_wait, a recvmmsg returning one datagram and a sendmmsg
// of one: three system calls where the kernel's UDP work is the same. Here every media socket
// has one multishot recvmsg armed on one ring per relay, filling buffers the ring provides
// (a provided-buffer ring), so receiving costs no system call; each datagram to relay is
// queued as a SENDMSG straight from its receive buffer (no copy), and the whole turn's sends
// go with one io_uring_enter. Still one thread, one event loop: the daemon's io_context waits
// on the ring (below), and a turn runs as one of its handlers.
//
// Coalescing (kernels >= 6.1, IORING_SETUP_DEFER_TASKRUN): a datagram's completion is only
// queued as work for this thread; the thread is woken once when the queue goes from empty to
// not empty (an eventfd the io_context waits on), and the turn then waits in io_uring_enter
// for up to `coalesce` or until kCoalesceBatch completions are queued, whichever comes first:
// one wake-up and a few system calls per batch of datagrams instead of per datagram, as a
// NIC's interrupt coalescing does (ethtool rx-usecs). The wait adds at most `coalesce` to a
// datagram's delay and holds the thread's other work (SIP, DNS) back as long. Zero, or an
// older kernel: every completion wakes the thread at once (COOP_TASKRUN).
//
// Falls back (create() fails) where io_uring is not allowed: io_uring_disabled=2, seccomp,
// containers; the relay then uses epoll (FdPoller).
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstdint>
#include <liburing.h>
#include <memory>
#include <netinet/in.h>
#include <vector>

#include "common/result.h"

namespace outpost::media {

// The monotonic clock in nanoseconds: arrival times, activity and coalescing windows.
int64_t steady_now_ns();

class MediaRing;

// One received datagram, valid during the call that hands it over.
struct RingDatagram {
  const sockaddr* source;
  socklen_t source_length;
  const uint8_t* data;
  size_t size;
  bool truncated;
  uint16_t buffer;  // give back to send() to relay these bytes, untouched
  int64_t now_ns;   // steady clock, read once per turn
};

// What owns a socket on the ring (a MediaSession's leg).
class DatagramSink {
 public:
  // Decide, and maybe ring.send(); a datagram not sent is recycled by the ring.
  virtual void on_datagram(MediaRing& ring, const RingDatagram& datagram) = 0;
  // The outcome of a send() this sink queued: bytes sent, or -errno.
  virtual void on_sent(int result, size_t size) = 0;

 protected:
  ~DatagramSink() = default;
};

class MediaRing {
 public:
  // An error: io_uring unavailable here (the message says why).
  static Result<std::unique_ptr<MediaRing>> create(boost::asio::io_context& io,
                                                    std::chrono::microseconds coalesce = std::chrono::microseconds(0));
  ~MediaRing();
  MediaRing(const MediaRing&) = delete;
  MediaRing& operator=(const MediaRing&) = delete;

  // Starts receiving on fd; the sink must live until remove(). Returns the socket's token.
  Result<uint32_t> add(int fd, DatagramSink& sink);
  // Stops receiving (cancels the armed receive before the caller closes fd).
  void remove(uint32_t token);
  // Queues the bytes of `datagram` (a buffer handed to on_datagram, in this turn) to `to`
  // out of fd, or with `to` null out of fd, connected, to its peer (a SEND: no message header
  // for the kernel to copy, no route to look up); the outcome reaches `from`'s on_sent.
  void send(uint32_t from, int fd, const RingDatagram& datagram, const sockaddr* to, socklen_t to_length);
  // Submits the sends queued so far, now (before a socket they use is connected elsewhere).
  void flush();
  void stop();
  // How long a turn may wait to gather completions: 0 when it does not (asked for none, or
  // the kernel has no DEFER_TASKRUN).
  std::chrono::microseconds coalesce() const { return deferred_ ? coalesce_ : std::chrono::microseconds(0); }

 private:
  MediaRing(boost::asio::io_context& io, std::chrono::microseconds coalesce);
  Result<void> setup();
  void schedule();
  bool work_pending() const;
  void reap(unsigned& seen);
  bool fixed(int fd) const { return fd >= 0 && size_t(fd) < registered_.size() && registered_[size_t(fd)]; }
  void prepare(io_uring_sqe* e, int fd) const;
  void arm(uint32_t token);
  io_uring_sqe* sqe();
  void wait();
  void turn();
  void on_receive(const io_uring_cqe& cqe);
  void on_send(const io_uring_cqe& cqe);
  void recycle(uint16_t buffer);

  struct Socket {
    DatagramSink* sink = nullptr;
    int fd = -1;
    uint32_t generation = 0;
  };
  // Per buffer: the SENDMSG relaying its bytes (the kernel may read it until completion).
  struct Outgoing {
    msghdr header{};
    iovec iov{};
    sockaddr_in6 to{};
    uint64_t from = 0;  // the sending socket's token and generation
    uint32_t size = 0;
    int fd = -1;
    bool connected = false;  // a SEND on a connected socket (no address)
    bool retried = false;
    bool pending = false;  // queued, not completed: the buffer is not free
  };
  void prepare_send(io_uring_sqe* e, uint16_t buffer);

  boost::asio::io_context& io_;
  // What the io_context waits on: a dup of the ring's fd, or with DEFER_TASKRUN the eventfd
  // the ring signals when work is queued for this thread.
  boost::asio::posix::stream_descriptor descriptor_;
  io_uring ring_{};
  bool ring_ready_ = false;
  bool deferred_ = false;  // DEFER_TASKRUN: completions run only inside our io_uring_enter
  std::chrono::microseconds coalesce_;
  io_uring_buf_ring* buffers_ = nullptr;
  size_t buffers_bytes_ = 0;
  std::vector<uint8_t> memory_;
  std::vector<Outgoing> outgoing_;
  unsigned recycled_ = 0;  // buffers added since the last advance
  msghdr receive_template_{};
  std::vector<Socket> sockets_;
  // Sockets in the ring's file table, by fd (slot = fd): a request on one skips the kernel's
  // per-request look-up and reference count of the file. Empty when the table could not be had.
  std::vector<uint8_t> registered_;
  std::vector<uint32_t> free_tokens_;
  int64_t turn_now_ns_ = 0;  // steady clock when the last turn's io_uring_enter returned
  bool woken_ = false;       // this turn was started by the eventfd, not posted
  bool scheduled_ = false;  // a wait on descriptor_ or a posted turn is pending
  bool stopped_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for posted turns
};

}  // namespace outpost::media
