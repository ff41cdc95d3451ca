#include "dns/udp_listener.h"

#include <netinet/in.h>

#include <boost/asio/ip/v6_only.hpp>

#include <cerrno>
#include <cstring>

namespace outpost::dns {

namespace asio = boost::asio;
using udp = asio::ip::udp;

UdpListener::UdpListener(asio::io_context& io, QueryEngine& engine, Logger log)
    : socket_(io), engine_(engine), log_(log), noisy_(log), buffers_(kBatch * kSlotSize) {}

Result<std::shared_ptr<UdpListener>> UdpListener::open(asio::io_context& io, const udp::endpoint& at,
                                                       QueryEngine& engine, Logger log) {
  auto l = std::make_shared<UdpListener>(io, engine, log);
  boost::system::error_code ec;
  l->socket_.open(at.protocol(), ec);
  if (!ec && at.address().is_v6()) l->socket_.set_option(asio::ip::v6_only(true), ec);
  if (!ec) l->socket_.set_option(asio::socket_base::receive_buffer_size(1 << 20), ec);
  if (!ec) l->socket_.set_option(asio::socket_base::send_buffer_size(1 << 20), ec);
  if (!ec) l->socket_.bind(at, ec);
  if (!ec) l->socket_.non_blocking(true, ec);
  if (ec) return make_error("dns: UDP " + at.address().to_string() + ":" + std::to_string(at.port()) + ": " + ec.message());
  l->local_ = l->socket_.local_endpoint(ec);
  return l;
}

void UdpListener::start() { wait(); }

void UdpListener::close() {
  boost::system::error_code ec;
  socket_.close(ec);
}

void UdpListener::wait() {
  socket_.async_wait(udp::socket::wait_read, [self = weak_from_this()](boost::system::error_code ec) {
    auto l = self.lock();
    if (ec || !l || !l->socket_.is_open()) return;
    l->drain();
    l->wait();
  });
}

void UdpListener::drain() {
  const int fd = socket_.native_handle();
  const std::shared_ptr<ReplyTarget> self = shared_from_this();
  // A bounded number of batches per wake-up keeps other sockets and timers served.
  for (int round = 0; round < 16; ++round) {
    for (size_t i = 0; i < kBatch; ++i) {
      in_iov_[i] = {buffers_.data() + i * kSlotSize, kMaxQuery};
      in_[i].msg_hdr = msghdr{};
      in_[i].msg_hdr.msg_name = &peers_[i];
      in_[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      in_[i].msg_hdr.msg_iov = &in_iov_[i];
      in_[i].msg_hdr.msg_iovlen = 1;
    }
    int r = ::recvmmsg(fd, in_.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (r <= 0) {
      if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        noisy_.warn("recvmmsg on ", local_.address().to_string(), ": ", std::strerror(errno));
      return;
    }
    ++receive_calls_;
    packets_ += static_cast<uint64_t>(r);
    size_t replies = 0;
    Client client;
    for (int i = 0; i < r; ++i) {
      uint8_t* buf = buffers_.data() + static_cast<size_t>(i) * kSlotSize;
      const msghdr& h = in_[static_cast<size_t>(i)].msg_hdr;
      // An oversized datagram is cut short by the kernel: count it as malformed, never parse half.
      size_t len = (h.msg_flags & MSG_TRUNC) ? 0 : in_[static_cast<size_t>(i)].msg_len;
      std::memcpy(client.peer.data(), &peers_[static_cast<size_t>(i)], h.msg_namelen);
      client.peer.resize(h.msg_namelen);
      client.address = client.peer.address();
      Handled handled = engine_.handle(buf, len, kSlotSize, client, self);
      if (!handled.length) continue;
      out_iov_[replies] = {buf, handled.length};
      out_[replies].msg_hdr = msghdr{};
      out_[replies].msg_hdr.msg_name = &peers_[static_cast<size_t>(i)];
      out_[replies].msg_hdr.msg_namelen = h.msg_namelen;
      out_[replies].msg_hdr.msg_iov = &out_iov_[replies];
      out_[replies].msg_hdr.msg_iovlen = 1;
      ++replies;
    }
    send_batch(replies);
    if (static_cast<size_t>(r) < kBatch) return;
  }
}

void UdpListener::send_batch(size_t count) {
  size_t sent = 0;
  while (sent < count) {
    int s = ::sendmmsg(socket_.native_handle(), out_.data() + sent, static_cast<unsigned>(count - sent), MSG_DONTWAIT);
    if (s > 0) {
      sent += static_cast<size_t>(s);
      continue;
    }
    if (s < 0 && errno == EINTR) continue;
    // The send buffer is full or the peer is unreachable: skip this one, try the rest.
    ++send_errors_;
    noisy_.warn("sendmmsg on ", local_.address().to_string(), ": ", std::strerror(errno));
    ++sent;
  }
}

bool UdpListener::send_reply(const udp::endpoint& peer, std::span<const uint8_t> reply) {
  if (!socket_.is_open()) return false;
  ssize_t s = ::sendto(socket_.native_handle(), reply.data(), reply.size(), MSG_DONTWAIT, peer.data(), peer.size());
  if (s < 0) {
    ++send_errors_;
    noisy_.warn("sendto ", peer.address().to_string(), ": ", std::strerror(errno));
    return false;
  }
  return true;
}

nlohmann::json UdpListener::status() const {
  return {{"address", local_.address().to_string() + ":" + std::to_string(local_.port())},
          {"transport", "udp"},
          {"packets", packets_},
          {"receive_calls", receive_calls_},
          {"average_batch", receive_calls_ ? double(packets_) / double(receive_calls_) : 0.0},
          {"send_errors", send_errors_}};
}

}  // namespace outpost::dns
