// The UDP listeners of Transports (transport.cc): datagrams read in recvmmsg(2) batches of
// eight. Real loopback sockets against a real Transports on an io_context: more datagrams
// queued than two batches hold, from two sources, with a keep-alive and an oversize
// datagram among them, then a datagram after the listener went back to waiting.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "common/log.h"
#include "sipalg/transport.h"
#include "tests/unit/sipalg/sip_test_util.h"

using namespace outpost;
using namespace outpost::sip;
using outpost::sip::test::run_until;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

// A blocking UDP socket on 127.0.0.1 (its own ephemeral port) sending to one port there.
class UdpClient {
 public:
  explicit UdpClient(uint16_t to_port) : fd_(::socket(AF_INET, SOCK_DGRAM, 0)) {
    to_.sin_family = AF_INET;
    to_.sin_port = htons(to_port);
    to_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sockaddr_in any{};
    any.sin_family = AF_INET;
    any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&any), sizeof any) == 0);
  }
  ~UdpClient() { ::close(fd_); }
  UdpClient(const UdpClient&) = delete;
  UdpClient& operator=(const UdpClient&) = delete;

  void send(const std::string& bytes) {
    REQUIRE(::sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<const sockaddr*>(&to_), sizeof to_) ==
            static_cast<ssize_t>(bytes.size()));
  }
  uint16_t port() const {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
  }

 private:
  int fd_;
  sockaddr_in to_{};
};

std::string request(int n) { return "OPTIONS sip:probe-" + std::to_string(n) + "@127.0.0.1 SIP/2.0\r\n\r\n"; }

}  // namespace

TEST_CASE("UDP listener: batches in order, keep-alives and oversize among them, then waits again",
          "[sip][udp]") {
  asio::io_context io;
  MemoryLogSink sink;
  std::map<std::string, int> drops;
  std::vector<std::pair<Flow, std::string>> received;
  constexpr size_t kMaxBytes = 1500;
  Transports transports{io, Logger(sink, "transport"), kMaxBytes,
                        [&](const Flow& from, std::string_view bytes) { received.emplace_back(from, std::string(bytes)); },
                        [&](Side, const char* reason) { ++drops[reason]; }};
  REQUIRE(transports.open(Side::lan, *parse_address("127.0.0.1"), 0, 0));
  const uint16_t port = transports.udp_port(Side::lan);
  REQUIRE(port != 0);

  // 22 datagrams queued before the loop runs: three batches (8, 8, 6) from one readiness event.
  UdpClient phone(port), other(port);
  for (int n = 0; n < 10; ++n) phone.send(request(n));
  phone.send("\r\n\r\n");                       // CRLF keep-alive: read and ignored
  other.send(std::string(kMaxBytes + 1, 'x'));  // over the configured size: dropped, counted
  for (int n = 10; n < 20; ++n) (n % 2 ? other : phone).send(request(n));

  REQUIRE(run_until(io, [&] { return received.size() == 20; }));
  for (int n = 0; n < 20; ++n) {
    INFO("message " << n);
    CHECK(received[n].second == request(n));  // one socket's queue keeps arrival order
    const UdpClient& from = (n >= 10 && n % 2) ? other : phone;
    CHECK(received[n].first.transport == Transport::udp);
    CHECK(received[n].first.side == Side::lan);
    CHECK(received[n].first.peer.port == from.port());
    CHECK(received[n].first.peer.address == *parse_address("127.0.0.1"));
  }
  CHECK(drops["oversize"] == 1);
  CHECK(drops.size() == 1);

  // The listener went back to waiting after the short batch: a later datagram still arrives.
  CHECK(io.run_for(20ms) == 0);  // nothing runs while nothing arrives: no read or wait loop
  CHECK(received.size() == 20);
  phone.send(request(20));
  REQUIRE(run_until(io, [&] { return received.size() == 21; }));
  CHECK(received[20].second == request(20));

  // Every datagram read is counted, the keep-alive and the oversize one included.
  uint64_t counted = 0;
  for (const auto& row : transports.status())
    if (row["transport"] == "udp") counted += row["received"].get<uint64_t>();
  CHECK(counted == 23);
}
