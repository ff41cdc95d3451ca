#pragma once
// The media relay's io_uring engine. At 50 pps per stream the epoll engine (FdPoller) pays,
// for every datagram, a share of epoll_wait, a recvmmsg returning one datagram and a sendmmsg
// of one: three system calls where the kernel's UDP work is the same. Here every media socket
// has one multishot recvmsg armed on one ring per relay, filling buffers the ring provides
// (a provided-buffer ring), so receiving costs no system call; each datagram to relay is
// queued as a SENDMSG straight from its receive buffer (no copy), and the whole turn's sends
// go with one io_uring_enter. The ring's own descriptor is what the daemon's io_context waits
// on: still one thread, one event loop.
//
// Falls back (create() fails) where io_uring is not allowed: io_uring_disabled=2, seccomp,
// containers; the relay then uses epoll (FdPoller).
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstdint>
#include <liburing.h>
#include <memory>
#include <netinet/in.h>
#include <vector>

#include "common/result.h"

namespace outpost::media {

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
  static Result<std::unique_ptr<MediaRing>> create(boost::asio::io_context& io);
  ~MediaRing();
  MediaRing(const MediaRing&) = delete;
  MediaRing& operator=(const MediaRing&) = delete;

  // Starts receiving on fd; the sink must live until remove(). Returns the socket's token.
  Result<uint32_t> add(int fd, DatagramSink& sink);
  // Stops receiving (cancels the armed receive before the caller closes fd).
  void remove(uint32_t token);
  // Queues the bytes of `datagram` (a buffer handed to on_datagram, in this turn) to `to`
  // out of fd; the outcome reaches `from`'s on_sent.
  void send(uint32_t from, int fd, const RingDatagram& datagram, const sockaddr* to, socklen_t to_length);
  void stop();

 private:
  explicit MediaRing(boost::asio::io_context& io);
  Result<void> setup();
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
    bool pending = false;  // queued, not completed: the buffer is not free
  };

  boost::asio::posix::stream_descriptor descriptor_;
  io_uring ring_{};
  bool ring_ready_ = false;
  io_uring_buf_ring* buffers_ = nullptr;
  size_t buffers_bytes_ = 0;
  std::vector<uint8_t> memory_;
  std::vector<Outgoing> outgoing_;
  unsigned recycled_ = 0;  // buffers added since the last advance
  msghdr receive_template_{};
  std::vector<Socket> sockets_;
  std::vector<uint32_t> free_tokens_;
  int64_t turn_now_ns_ = 0;
  bool waiting_ = false;
  bool stopped_ = false;
};

}  // namespace outpost::media
