#pragma once
// receive, UDP: one socket per listen address, drained in batches with recvmmsg and
// answered in batches with sendmmsg from the same buffers (replies are built in place).
// Waits for readiness on the daemon's io_context; no thread of its own.
#include <sys/socket.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <memory>
#include <vector>

#include "common/log.h"
#include "common/result.h"
#include "dns/query_engine.h"

namespace outpost::dns {

class UdpListener final : public ReplyTarget, public std::enable_shared_from_this<UdpListener> {
 public:
  static constexpr size_t kBatch = 32;
  static constexpr size_t kMaxQuery = 4096;              // larger datagrams are dropped as malformed
  static constexpr size_t kSlotSize = kMaxQuery + 1024;  // room for the answer after the question

  static Result<std::shared_ptr<UdpListener>> open(boost::asio::io_context& io,
                                                   const boost::asio::ip::udp::endpoint& at, QueryEngine& engine,
                                                   Logger log);
  UdpListener(boost::asio::io_context& io, QueryEngine& engine, Logger log);
  void start();
  void close();
  bool send_reply(const boost::asio::ip::udp::endpoint& peer, std::span<const uint8_t> reply) override;
  boost::asio::ip::udp::endpoint local_endpoint() const { return local_; }
  nlohmann::json status() const;

 private:
  void wait();
  void drain();
  void send_batch(size_t count);

  boost::asio::ip::udp::socket socket_;
  boost::asio::ip::udp::endpoint local_;
  QueryEngine& engine_;
  Logger log_;
  RateLimitedLog noisy_;
  std::vector<uint8_t> buffers_;
  std::array<mmsghdr, kBatch> in_{};
  std::array<iovec, kBatch> in_iov_{};
  std::array<sockaddr_storage, kBatch> peers_{};
  std::array<mmsghdr, kBatch> out_{};
  std::array<iovec, kBatch> out_iov_{};
  uint64_t packets_ = 0, receive_calls_ = 0, send_errors_ = 0;
};

}  // namespace outpost::dns
