#include "dataplane/media_uring.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/mman.h>
#include <unistd.h>

namespace outpost::media {
namespace {

constexpr unsigned kEntries = 1024;          // submission queue; sends beyond it submit early
constexpr unsigned kCompletions = 8192;      // completion queue: a turn's receives and sends
constexpr unsigned kBuffers = 4096;          // provided receive buffers (power of two)
constexpr uint16_t kBufferGroup = 7;
constexpr size_t kMaxPayload = 2048;         // as the epoll engine: bigger datagrams are truncated
constexpr size_t kBufferSize = sizeof(io_uring_recvmsg_out) + sizeof(sockaddr_in6) + kMaxPayload;
constexpr unsigned kRoundsPerWakeup = 4;     // then back to the io_context so other components run
// A coalescing wait ends early once this many completions are queued: a bound on a turn's
// batch (and on the delay at high rates), well below the completion queue.
constexpr unsigned kCoalesceBatch = 64;
constexpr int64_t kMinWaitNs = 10'000;  // less than this left of a window: not worth a timer

// user_data: what a completion is for. Receives carry the socket's token and generation (a
// completion for a removed socket is recognised and ignored), sends their buffer.
enum Kind : uint64_t { kReceive = 1, kSend = 2, kIgnore = 3 };
uint64_t tag(Kind kind, uint64_t value) { return (uint64_t(kind) << 62) | value; }
Kind kind_of(uint64_t user_data) { return Kind(user_data >> 62); }
uint64_t value_of(uint64_t user_data) { return user_data & ((uint64_t(1) << 62) - 1); }
uint64_t socket_key(uint32_t token, uint32_t generation) { return (uint64_t(generation & 0x3fffffff) << 32) | token; }

}  // namespace

int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Result<std::unique_ptr<MediaRing>> MediaRing::create(boost::asio::io_context& io, std::chrono::microseconds coalesce) {
  std::unique_ptr<MediaRing> ring(new MediaRing(io, coalesce));
  if (auto r = ring->setup(); !r) return r.error();
  return ring;
}

MediaRing::MediaRing(boost::asio::io_context& io, std::chrono::microseconds coalesce)
    : io_(io), descriptor_(io), coalesce_(coalesce) {}

Result<void> MediaRing::setup() {
  // Most capable first, each step for older kernels:
  // - DEFER_TASKRUN (6.1, with SINGLE_ISSUER: only this thread submits): completions wait
  //   for this thread's next io_uring_enter, which is what lets a turn coalesce them;
  //   TASKRUN_FLAG shows in the shared ring whether any are queued (no system call to ask).
  // - COOP_TASKRUN (5.19): a completion does not interrupt the thread while it runs in user
  //   space (an IPI and a kernel round trip per datagram); it is posted at the thread's next
  //   system call, which the turn makes anyway.
  // - neither.
  const unsigned attempts[] = {
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
      IORING_SETUP_COOP_TASKRUN, 0};
  int r = -EINVAL;
  for (unsigned flags : attempts) {
    if ((flags & IORING_SETUP_DEFER_TASKRUN) && coalesce_.count() == 0) continue;
    io_uring_params params{};
    params.flags = IORING_SETUP_CQSIZE | flags;
    params.cq_entries = kCompletions;
    r = io_uring_queue_init_params(kEntries, &ring_, &params);
    if (r != -EINVAL) {
      deferred_ = r == 0 && (flags & IORING_SETUP_DEFER_TASKRUN);
      break;
    }
  }
  if (r < 0) return make_error(std::string("io_uring_setup: ") + std::strerror(-r));
  ring_ready_ = true;

  // The provided-buffer ring (liburing 2.3 has no helper to allocate it): page-aligned memory
  // the kernel takes receive buffers from, and we give them back to.
  buffers_bytes_ = kBuffers * sizeof(io_uring_buf);
  void* mapped = ::mmap(nullptr, buffers_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mapped == MAP_FAILED) return make_error(std::string("mmap: ") + std::strerror(errno));
  buffers_ = static_cast<io_uring_buf_ring*>(mapped);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uintptr_t>(buffers_);
  reg.ring_entries = kBuffers;
  reg.bgid = kBufferGroup;
  if (int r = io_uring_register_buf_ring(&ring_, &reg, 0); r < 0)
    return make_error(std::string("io_uring_register_buf_ring: ") + std::strerror(-r));
  memory_.resize(size_t(kBuffers) * kBufferSize);
  outgoing_.resize(kBuffers);
  io_uring_buf_ring_init(buffers_);
  for (unsigned b = 0; b < kBuffers; ++b)
    io_uring_buf_ring_add(buffers_, &memory_[size_t(b) * kBufferSize], kBufferSize, uint16_t(b),
                          io_uring_buf_ring_mask(kBuffers), int(b));
  io_uring_buf_ring_advance(buffers_, kBuffers);

  receive_template_.msg_namelen = sizeof(sockaddr_in6);
  // A file table with a slot for every descriptor this process may open (slot = fd): each
  // send and receive then names its socket by slot, without fget/fput per request (~3 % of
  // the relay's CPU per packet in `perf`). Without it (an old kernel, memory), plain fds.
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur > 0) {
    const unsigned slots = unsigned(std::min<rlim_t>(files.rlim_cur, rlim_t(1) << 20));
    if (io_uring_register_files_sparse(&ring_, slots) == 0) registered_.assign(slots, 0);
  }
  if (!deferred_) {
    descriptor_.assign(::dup(ring_.ring_fd));
    return {};
  }
  // With DEFER_TASKRUN the ring's fd does not turn readable when work is queued for us; the
  // registered eventfd is signalled when the queue goes from empty to not empty (and when a
  // completion is posted).
  const int event = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (event < 0) return make_error(std::string("eventfd: ") + std::strerror(errno));
  descriptor_.assign(event);
  if (int r = io_uring_register_eventfd(&ring_, event); r < 0)
    return make_error(std::string("io_uring_register_eventfd: ") + std::strerror(-r));
  return {};
}

MediaRing::~MediaRing() {
  stop();
  if (ring_ready_) io_uring_queue_exit(&ring_);  // cancels what is still armed
  if (buffers_) ::munmap(buffers_, buffers_bytes_);
}

void MediaRing::stop() {
  stopped_ = true;
  *alive_ = false;
  boost::system::error_code ec;
  descriptor_.cancel(ec);
}

io_uring_sqe* MediaRing::sqe() {
  io_uring_sqe* s = io_uring_get_sqe(&ring_);
  if (!s) {  // full: hand the queue to the kernel and take a fresh entry
    io_uring_submit(&ring_);
    s = io_uring_get_sqe(&ring_);
  }
  return s;
}

Result<uint32_t> MediaRing::add(int fd, DatagramSink& sink) {
  uint32_t token;
  if (!free_tokens_.empty()) {
    token = free_tokens_.back();
    free_tokens_.pop_back();
  } else {
    token = uint32_t(sockets_.size());
    sockets_.emplace_back();
  }
  Socket& s = sockets_[token];
  s.sink = &sink;
  s.fd = fd;
  if (fd >= 0 && size_t(fd) < registered_.size() && io_uring_register_files_update(&ring_, unsigned(fd), &fd, 1) == 1)
    registered_[size_t(fd)] = 1;
  arm(token);
  if (int r = io_uring_submit(&ring_); r < 0) {
    remove(token);
    return make_error(std::string("io_uring_enter: ") + std::strerror(-r));
  }
  if (!scheduled_ && !stopped_) schedule();
  return token;
}

void MediaRing::arm(uint32_t token) {
  const Socket& s = sockets_[token];
  io_uring_sqe* e = sqe();
  io_uring_prep_recvmsg_multishot(e, s.fd, &receive_template_, 0);
  prepare(e, s.fd);
  e->flags |= IOSQE_BUFFER_SELECT;
  e->buf_group = kBufferGroup;
  io_uring_sqe_set_data64(e, tag(kReceive, socket_key(token, s.generation)));
}

void MediaRing::remove(uint32_t token) {
  if (token >= sockets_.size() || !sockets_[token].sink) return;
  Socket& s = sockets_[token];
  // Cancelled now, in this io_uring_enter: the request lets go of the socket before the
  // caller closes it, so its port can be bound again at once.
  io_uring_sqe* e = sqe();
  io_uring_prep_cancel64(e, tag(kReceive, socket_key(token, s.generation)), 0);
  io_uring_sqe_set_data64(e, tag(kIgnore, 0));
  // Deferred: the cancelled receive completes (and drops its hold on the socket) only when
  // this thread runs the ring's queued work, so run it now.
  if (deferred_) io_uring_submit_and_get_events(&ring_);
  else io_uring_submit(&ring_);
  if (fixed(s.fd)) {  // the table's hold on the socket goes too, so the caller's close frees the port
    int none = -1;
    io_uring_register_files_update(&ring_, unsigned(s.fd), &none, 1);
    registered_[size_t(s.fd)] = 0;
  }
  s.sink = nullptr;
  s.fd = -1;
  ++s.generation;
  free_tokens_.push_back(token);
}

void MediaRing::send(uint32_t from, int fd, const RingDatagram& d, const sockaddr* to, socklen_t to_length) {
  Outgoing& o = outgoing_[d.buffer];
  o.from = socket_key(from, sockets_[from].generation);
  o.size = uint32_t(d.size);
  o.fd = fd;
  o.connected = to == nullptr;
  o.retried = false;
  o.pending = true;
  o.iov = {const_cast<uint8_t*>(d.data), d.size};
  if (to) {
    std::memcpy(&o.to, to, std::min<size_t>(to_length, sizeof(o.to)));
    o.header = {};
    o.header.msg_name = &o.to;
    o.header.msg_namelen = to_length;
    o.header.msg_iov = &o.iov;
    o.header.msg_iovlen = 1;
  }
  prepare_send(sqe(), d.buffer);
}

void MediaRing::prepare_send(io_uring_sqe* e, uint16_t buffer) {
  Outgoing& o = outgoing_[buffer];
  // MSG_DONTWAIT: a full send queue fails the datagram (send_failed) instead of parking it.
  if (o.connected)
    io_uring_prep_send(e, o.fd, o.iov.iov_base, o.iov.iov_len, MSG_DONTWAIT);
  else
    io_uring_prep_sendmsg(e, o.fd, &o.header, MSG_DONTWAIT);
  prepare(e, o.fd);
  io_uring_sqe_set_data64(e, tag(kSend, buffer));
}

void MediaRing::flush() {
  if (io_uring_sq_ready(&ring_) > 0) io_uring_submit(&ring_);
}

// A request on `fd` names it by its slot in the file table when it has one.
void MediaRing::prepare(io_uring_sqe* e, int fd) const {
  if (!fixed(fd)) return;
  e->fd = fd;  // slot = fd
  e->flags |= IOSQE_FIXED_FILE;
}

void MediaRing::recycle(uint16_t buffer) {
  io_uring_buf_ring_add(buffers_, &memory_[size_t(buffer) * kBufferSize], kBufferSize, buffer,
                        io_uring_buf_ring_mask(kBuffers), int(recycled_));
  ++recycled_;
}

void MediaRing::wait() {
  scheduled_ = true;
  descriptor_.async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](boost::system::error_code ec) {
    if (ec) return;  // cancelled: the ring may be gone, touch nothing
    scheduled_ = false;
    if (stopped_) return;
    woken_ = true;
    turn();
    schedule();
  });
}

bool MediaRing::work_pending() const {
  return io_uring_cq_ready(&ring_) > 0 || io_uring_sq_ready(&ring_) > 0 ||
         (IO_URING_READ_ONCE(*ring_.sq.kflags) & IORING_SQ_TASKRUN);
}

// After a turn. Deferred: the eventfd only says "the queue became not empty", so what is
// already queued is found by looking: a turn is posted (the io_context's other handlers run
// first) while there is work; otherwise the eventfd is emptied, looked again (work queued
// before the read would signal no more), and waited on.
void MediaRing::schedule() {
  if (stopped_) return;
  if (!deferred_) return wait();
  if (!work_pending()) {
    uint64_t count;
    while (::read(descriptor_.native_handle(), &count, sizeof count) > 0) {
    }
    if (!work_pending()) return wait();
  }
  scheduled_ = true;
  boost::asio::post(io_, [this, alive = alive_] {
    if (!*alive) return;
    scheduled_ = false;
    woken_ = false;
    turn();
    schedule();
  });
}

// Every completion in the queue: receives decide and queue sends; sends report and give
// their buffer back.
void MediaRing::reap(unsigned& seen) {
  unsigned head;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    ++seen;
    switch (kind_of(cqe->user_data)) {
      case kReceive: on_receive(*cqe); break;
      case kSend: on_send(*cqe); break;
      default: break;
    }
  }
  io_uring_cq_advance(&ring_, seen);
  if (recycled_) {
    io_uring_buf_ring_advance(buffers_, int(recycled_));
    recycled_ = 0;
  }
}

// One turn. Deferred (DEFER_TASKRUN): one io_uring_enter submits the sends the last turn
// queued, runs the receives queued for this thread and, coalescing, first waits up to
// coalesce_ or until kCoalesceBatch completions are there beyond those sends; then every
// completion is taken (receives decide and queue sends, for the next turn's enter, which
// schedule() posts at once). One system call per batch. Otherwise: take every completion,
// submit the sends, and again while there is more (sends on UDP complete during the enter).
void MediaRing::turn() {
  if (deferred_) {
    const unsigned queued = io_uring_sq_ready(&ring_);
    // The window is counted from the oldest datagram waiting: woken by the eventfd, that one
    // has just arrived; in a turn posted because work was already queued, it arrived after
    // the last enter returned, so only what is left of the window is waited.
    const int64_t window_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(coalesce_).count();
    const int64_t left_ns = woken_ ? window_ns : window_ns - (steady_now_ns() - turn_now_ns_);
    if (left_ns > kMinWaitNs) {
      __kernel_timespec wait{0, static_cast<long long>(left_ns)};
      io_uring_cqe* first;
      io_uring_submit_and_wait_timeout(&ring_, &first, queued + kCoalesceBatch, &wait, nullptr);  // -ETIME: waited
    } else {
      io_uring_submit_and_get_events(&ring_);
    }
    turn_now_ns_ = steady_now_ns();
    unsigned seen = 0;
    reap(seen);
    return;
  }
  turn_now_ns_ = steady_now_ns();
  for (unsigned round = 0; round < kRoundsPerWakeup; ++round) {
    unsigned seen = 0;
    reap(seen);
    const bool queued = io_uring_sq_ready(&ring_) > 0;
    if (queued) io_uring_submit(&ring_);
    if (!queued && seen == 0) break;
  }
}

void MediaRing::on_receive(const io_uring_cqe& cqe) {
  const uint64_t key = value_of(cqe.user_data);
  const uint32_t token = uint32_t(key);
  const bool live = token < sockets_.size() && sockets_[token].sink &&
                    socket_key(token, sockets_[token].generation) == key;
  const bool has_buffer = cqe.flags & IORING_CQE_F_BUFFER;
  const uint16_t buffer = uint16_t(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
  // The receive ended (buffers ran out: ENOBUFS; or an error): arm it again while the socket lives.
  if (!(cqe.flags & IORING_CQE_F_MORE) && live && cqe.res != -ECANCELED) arm(token);
  if (!has_buffer) return;
  if (!live || cqe.res < 0) return recycle(buffer);
  uint8_t* base = &memory_[size_t(buffer) * kBufferSize];
  io_uring_recvmsg_out* out = io_uring_recvmsg_validate(base, cqe.res, &receive_template_);
  if (!out || out->namelen > sizeof(sockaddr_in6)) return recycle(buffer);
  RingDatagram d{static_cast<const sockaddr*>(io_uring_recvmsg_name(out)),
                 socklen_t(out->namelen),
                 static_cast<const uint8_t*>(io_uring_recvmsg_payload(out, &receive_template_)),
                 io_uring_recvmsg_payload_length(out, cqe.res, &receive_template_),
                 (out->flags & MSG_TRUNC) != 0,
                 buffer,
                 turn_now_ns_};
  sockets_[token].sink->on_datagram(*this, d);
  if (!outgoing_[buffer].pending) recycle(buffer);  // not relayed: the buffer is free again
}

void MediaRing::on_send(const io_uring_cqe& cqe) {
  const uint16_t buffer = uint16_t(value_of(cqe.user_data));
  Outgoing& o = outgoing_[buffer];
  const uint32_t token = uint32_t(o.from);
  // The receiving socket still on the ring: so is the socket that sent (the same stream's).
  const bool live =
      token < sockets_.size() && sockets_[token].sink && socket_key(token, sockets_[token].generation) == o.from;
  if (cqe.res == -ECONNREFUSED && o.connected && !o.retried && live) {
    // A connected socket reports an ICMP port-unreachable from its peer (a port closed for a
    // moment, or a forged ICMP) on its next send, which then fails without sending; the
    // report is gone with that failure, so the datagram goes again, once.
    o.retried = true;
    return prepare_send(sqe(), buffer);
  }
  if (live) sockets_[token].sink->on_sent(cqe.res, o.size);
  o.pending = false;
  recycle(buffer);
}

}  // namespace outpost::media
