// The relay engines between real TCP sockets on loopback: every byte both ways, a FIN
// passed on while the other direction keeps flowing (half-close), a reset passed on.
#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <future>
#include <random>
#include <thread>

#include "dataplane/relay.h"

using namespace outpost::dataplane;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

std::vector<uint8_t> random_bytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = uint8_t(rng());
  return v;
}

// Reads until EOF; the error that ended it, if not EOF.
std::vector<uint8_t> read_all(tcp::socket& s, boost::system::error_code& ec) {
  std::vector<uint8_t> out;
  uint8_t buf[65536];
  while (true) {
    size_t n = s.read_some(asio::buffer(buf), ec);
    out.insert(out.end(), buf, buf + n);
    if (ec) break;
  }
  if (ec == asio::error::eof) ec = {};
  return out;
}

// browser <-> [relay_client | Relay | relay_upstream] <-> vendor, all on 127.0.0.1. The
// relay's two sockets are taken out of Asio and polled edge-triggered, as the Session does.
struct Rig {
  struct Side final : PolledFd {
    Rig* rig;
    bool upstream;
    Side(Rig* r, bool up) : rig(r), upstream(up) {}
    void on_events(uint32_t events) override { rig->relay->ready(upstream, events); }
  };
  asio::io_context io;
  tcp::socket browser{io}, vendor{io};
  OwnedFd relay_client, relay_upstream;
  FdPoller poller{io};
  Side client_side{this, false}, upstream_side{this, true};
  std::shared_ptr<int> owner = std::make_shared<int>(0);
  std::shared_ptr<BufferPool> pool = std::make_shared<BufferPool>();
  std::unique_ptr<Relay> relay;
  std::promise<RelayEnd> ended;
  size_t up = 0, down = 0;
  std::thread runner;

  explicit Rig(RelayMode mode) {
    tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    browser.connect(a.local_endpoint());
    tcp::socket accepted(io), connecting(io);
    a.accept(accepted);
    tcp::acceptor b(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    connecting.connect(b.local_endpoint());
    b.accept(vendor);
    accepted.native_non_blocking(true);
    connecting.native_non_blocking(true);
    relay_client = OwnedFd(accepted.release());
    relay_upstream = OwnedFd(connecting.release());
    Relay::Hooks hooks;
    hooks.on_bytes = [this](bool to_upstream, size_t n) { (to_upstream ? up : down) += n; };
    hooks.on_end = [this](RelayEnd e) { ended.set_value(e); };
    relay = std::make_unique<Relay>(io, relay_client, relay_upstream, mode, std::chrono::seconds(60), hooks, owner,
                                    pool);
    asio::post(io, [this] {
      relay->start({}, {});  // nothing known yet: the registrations' first events tell
      REQUIRE(poller.add(relay_client.get(), FdPoller::kStream, client_side));
      REQUIRE(poller.add(relay_upstream.get(), FdPoller::kStream, upstream_side));
    });
    runner = std::thread([this] { io.run(); });
  }
  // io.run() returns once the relay has ended and nothing is pending; a failed check may
  // leave it running, so stop it (a no-op if it already ended).
  ~Rig() {
    asio::post(io, [this] {
      relay->stop();
      poller.stop();  // its wait would keep io.run() going
    });
    runner.join();
  }
  RelayEnd end() { return ended.get_future().get(); }
};

}  // namespace

TEST_CASE("every relay engine carries both directions and passes a half-close on", "[dataplane][relay]") {
  auto [mode, name] = GENERATE(std::pair{RelayMode::copy, "copy"}, std::pair{RelayMode::splice, "splice"},
                               std::pair{RelayMode::automatic, "auto"});
  INFO("relay " << name);
  Rig rig(mode);
  const auto up = random_bytes(3 << 20, 1), down = random_bytes(5 << 20, 2);

  // The browser sends its request and half-closes; it must still get the whole answer.
  auto browser_side = std::async(std::launch::async, [&] {
    asio::write(rig.browser, asio::buffer(up));
    rig.browser.shutdown(tcp::socket::shutdown_send);
    boost::system::error_code ec;
    auto got = read_all(rig.browser, ec);
    return std::make_pair(got, ec);
  });
  boost::system::error_code ec;
  auto got_up = read_all(rig.vendor, ec);  // ends only when the browser's FIN was passed on
  REQUIRE_FALSE(ec);
  CHECK(got_up == up);
  asio::write(rig.vendor, asio::buffer(down));
  rig.vendor.shutdown(tcp::socket::shutdown_send);
  auto [got_down, browser_ec] = browser_side.get();
  CHECK_FALSE(browser_ec);
  CHECK(got_down == down);
  CHECK(rig.end() == RelayEnd::closed);
  CHECK(rig.up == up.size());
  CHECK(rig.down == down.size());
}

TEST_CASE("a reset on one side resets the other", "[dataplane][relay]") {
  auto mode = GENERATE(RelayMode::copy, RelayMode::splice);
  Rig rig(mode);
  asio::write(rig.browser, asio::buffer(std::string("hello")));
  uint8_t buf[5];
  asio::read(rig.vendor, asio::buffer(buf));
  rig.vendor.set_option(asio::socket_base::linger(true, 0));
  rig.vendor.close();
  CHECK(rig.end() == RelayEnd::reset);
  boost::system::error_code ec;
  read_all(rig.browser, ec);
  CHECK(ec == asio::error::connection_reset);
}

// The socket the peer reset is only closed (it is closed on the wire already); the other one
// still gets the RST, whichever side reset first.
TEST_CASE("a reset by the browser resets the vendor", "[dataplane][relay]") {
  auto mode = GENERATE(RelayMode::copy, RelayMode::splice);
  Rig rig(mode);
  asio::write(rig.vendor, asio::buffer(std::string("hello")));
  uint8_t buf[5];
  asio::read(rig.browser, asio::buffer(buf));
  rig.browser.set_option(asio::socket_base::linger(true, 0));
  rig.browser.close();
  CHECK(rig.end() == RelayEnd::reset);
  boost::system::error_code ec;
  read_all(rig.vendor, ec);
  CHECK(ec == asio::error::connection_reset);
}

// The copy engine does not read the error EPOLLERR announces (nor the 0 after EPOLLRDHUP):
// what arrived before the reset still reaches the other side, then the RST.
TEST_CASE("bytes sent just before a reset are passed on before the reset", "[dataplane][relay]") {
  auto mode = GENERATE(RelayMode::copy, RelayMode::automatic, RelayMode::splice);
  Rig rig(mode);
  asio::write(rig.browser, asio::buffer(std::string("bye")));
  rig.browser.set_option(asio::socket_base::linger(true, 0));
  rig.browser.close();
  CHECK(rig.end() == RelayEnd::reset);
  boost::system::error_code ec;
  CHECK(read_all(rig.vendor, ec) == std::vector<uint8_t>{'b', 'y', 'e'});
  CHECK(ec == asio::error::connection_reset);
  CHECK(rig.up == 3);
}

// tls_component.cc defers accepting until the first bytes have arrived (TCP_DEFER_ACCEPT),
// and the Session reads them at once after accept4(2), without waiting for an EPOLLIN.
TEST_CASE("a deferring listener hands over a connection with its first bytes", "[dataplane][relay]") {
  asio::io_context io;
  tcp::acceptor listener(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const int defer_s = 1;
  REQUIRE(::setsockopt(listener.native_handle(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_s, sizeof defer_s) == 0);
  listener.native_non_blocking(true);  // as the daemon's (SOCK_NONBLOCK)
  tcp::socket client(io);
  client.connect(listener.local_endpoint());
  // The handshake is complete on the client's side, but nothing is queued for accept yet.
  CHECK(::accept4(listener.native_handle(), nullptr, nullptr, SOCK_NONBLOCK) == -1);
  CHECK(errno == EAGAIN);
  asio::write(client, asio::buffer(std::string("\x16hello")));
  pollfd p{listener.native_handle(), POLLIN, 0};
  REQUIRE(::poll(&p, 1, 10000) == 1);
  const int accepted = ::accept4(listener.native_handle(), nullptr, nullptr, SOCK_NONBLOCK);
  REQUIRE(accepted >= 0);
  char buf[16];
  CHECK(::recv(accepted, buf, sizeof buf, MSG_DONTWAIT) == 6);  // no wait: the bytes came with it
  ::close(accepted);
}

// tls_component.cc sets TCP_NODELAY and SO_KEEPALIVE on the listening socket only: the
// Session relies on Linux copying both to every accepted socket (one setsockopt(2) fewer
// each, per connection).
TEST_CASE("accepted sockets inherit TCP_NODELAY and SO_KEEPALIVE from the listener", "[dataplane][relay]") {
  asio::io_context io;
  tcp::acceptor listener(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  listener.set_option(tcp::no_delay(true));
  listener.set_option(asio::socket_base::keep_alive(true));
  tcp::socket client(io), accepted(io);
  client.connect(listener.local_endpoint());
  listener.accept(accepted);
  tcp::no_delay no_delay;
  asio::socket_base::keep_alive keep_alive;
  accepted.get_option(no_delay);
  accepted.get_option(keep_alive);
  CHECK(no_delay.value());
  CHECK(keep_alive.value());
  client.get_option(no_delay);  // the connecting side has neither
  CHECK_FALSE(no_delay.value());
}

// tls_component.cc also turns TCP_QUICKACK off on the listening socket, so that accepted
// sockets delay their ACKs and let them ride on the data relayed back (session.cc's
// delay_acks() does the same for the upstream socket before connect). It relies on Linux
// copying the delayed-ACK ("ping-pong") mode to the accepted socket: getsockopt reads
// TCP_QUICKACK 0 there, and 1 under a listener left as it was.
TEST_CASE("accepted sockets inherit delayed ACKs (TCP_QUICKACK off) from the listener", "[dataplane][relay]") {
  auto quickack_of_accepted = [](bool listener_delays) {
    asio::io_context io;
    tcp::acceptor listener(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    if (listener_delays) {
      const int off = 0;
      REQUIRE(::setsockopt(listener.native_handle(), IPPROTO_TCP, TCP_QUICKACK, &off, sizeof off) == 0);
    }
    tcp::socket client(io), accepted(io);
    client.connect(listener.local_endpoint());
    listener.accept(accepted);
    int value = -1;
    socklen_t len = sizeof value;
    REQUIRE(::getsockopt(accepted.native_handle(), IPPROTO_TCP, TCP_QUICKACK, &value, &len) == 0);
    return value;
  };
  CHECK(quickack_of_accepted(true) == 0);
  CHECK(quickack_of_accepted(false) == 1);
}
