// Connection hygiene on the LAN's stream transports (connection_limits.h, transport.cc):
// the admission counts and deadlines as pure decisions, then real loopback sockets against
// a real Transports on an io_context, with tiny timeouts: a TLS client that never
// handshakes, an idle TCP connection next to one that sends CRLF keep-alives, and
// connections over the per-source and total limits (a WSS hand-over included).
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/log.h"
#include "sipalg/connection_limits.h"
#include "sipalg/transport.h"
#include "tests/unit/sipalg/sip_test_util.h"

using namespace outpost;
using namespace outpost::sip;
using outpost::sip::test::run_until;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

IpAddress ip(const char* text) { return *parse_address(text); }

// A loopback port free right now (the listener is opened on it just after).
uint16_t free_port() {
  asio::io_context io;
  tcp::acceptor a(io, tcp::endpoint(ip("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

// A self-signed P-256 certificate and its key, as PEM files in a fresh directory.
struct TestCertificate {
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("outpost-sipconn-" + std::to_string(::getpid()));
  std::string cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  TestCertificate() {
    std::filesystem::create_directories(dir);
    EVP_PKEY* pkey = EVP_EC_gen("P-256");
    X509* x = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pkey);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("sip.test.example"), -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_sign(x, pkey, EVP_sha256());
    FILE* f = std::fopen(cert.c_str(), "w");
    PEM_write_X509(f, x);
    std::fclose(f);
    f = std::fopen(key.c_str(), "w");
    PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
    X509_free(x);
    EVP_PKEY_free(pkey);
  }
  ~TestCertificate() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

// A blocking client socket from `source` (any 127/8 address is local) to 127.0.0.1:port.
struct Client {
  int fd = -1;
  Client(const char* source, uint16_t port) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    ::inet_pton(AF_INET, source, &from.sin_addr);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) == 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);  // the kernel's backlog accepts it
  }
  ~Client() { ::close(fd); }
  void send(const std::string& bytes) { REQUIRE(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == ssize_t(bytes.size())); }
  // Whatever arrived so far; sets `closed` on EOF or a reset.
  std::string poll() {
    std::string got;
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) got.append(buf, size_t(n));
      else {
        if (n == 0 || errno == ECONNRESET) closed = true;
        return got;
      }
    }
  }
  bool closed = false;
};

struct Lab {
  asio::io_context io;
  MemoryLogSink sink;
  std::map<std::string, int> drops;
  std::vector<std::pair<Flow, std::string>> received;
  Transports transports{io, Logger(sink, "transport"), 65535,
                        [this](const Flow& from, std::string_view bytes) { received.emplace_back(from, std::string(bytes)); },
                        [this](Side, const char* reason) { ++drops[reason]; }};
  uint16_t port = free_port();

  explicit Lab(ConnectionLimits limits) { transports.set_limits(limits); }
  void open_tcp() { REQUIRE(transports.open(Side::lan, ip("127.0.0.1"), 0, port)); }
  size_t accepted() const { return transports.connection_status()["lan_accepted"].get<size_t>(); }
};

ConnectionLimits limits(std::chrono::milliseconds handshake, std::chrono::milliseconds idle, size_t total,
                        size_t per_source) {
  ConnectionLimits l;
  l.handshake_timeout = handshake;
  l.idle_timeout = idle;
  l.max_connections = total;
  l.max_per_source = per_source;
  return l;
}

// A SIP message from the client reaches the handler over its connection, and an answer sent
// to that flow comes back to the same client.
void carries_sip_end_to_end(Lab& lab, Client& c) {
  lab.received.clear();
  c.send(test::kRegister);
  REQUIRE(run_until(lab.io, [&] { return !lab.received.empty(); }));
  CHECK(lab.received[0].second == test::kRegister);
  const Flow from = lab.received[0].first;
  CHECK(from.transport == Transport::tcp);
  REQUIRE(lab.transports.send(from, test::respond(test::kRegister, 200, "OK")));
  std::string got;
  REQUIRE(run_until(lab.io, [&] { return (got += c.poll()).find("SIP/2.0 200 OK") != std::string::npos; }));
}

}  // namespace

TEST_CASE("Connection admission: in all and per source, released when closed", "[sip][connlimits]") {
  ConnectionAdmission a;
  a.configure(limits(1s, 1s, 3, 2));
  const auto one = ip("10.20.0.10"), two = ip("10.20.0.11"), three = ip("10.20.0.12");
  CHECK(a.admit(one) == ConnectionAdmission::Verdict::admitted);
  CHECK(a.admit(one) == ConnectionAdmission::Verdict::admitted);
  CHECK(a.admit(one) == ConnectionAdmission::Verdict::over_source);
  CHECK(a.admit(two) == ConnectionAdmission::Verdict::admitted);
  CHECK(a.admit(three) == ConnectionAdmission::Verdict::over_total);
  CHECK(a.open() == 3);
  CHECK(a.sources() == 2);  // a refused source leaves no entry behind
  CHECK(a.busiest_source() == 2);
  a.release(one);
  CHECK(a.admit(three) == ConnectionAdmission::Verdict::admitted);
  a.release(ip("192.0.2.1"));  // never admitted: nothing to release
  CHECK(a.open() == 3);
}

TEST_CASE("Connection deadlines: handshake for accepted ones, idle for LAN ones", "[sip][connlimits]") {
  const auto l = limits(10s, 600s, 1, 1);
  const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  CHECK(expiry(true, true, false, t0, t0, t0 + 9s, l) == Expiry::none);
  CHECK(expiry(true, true, false, t0, t0, t0 + 10s, l) == Expiry::handshake_timeout);
  CHECK(expiry(false, true, false, t0, t0, t0 + 10s, l) == Expiry::none);  // outpost's own connect: the kernel's timeout
  CHECK(expiry(true, true, true, t0, t0 + 100s, t0 + 699s, l) == Expiry::none);
  CHECK(expiry(true, true, true, t0, t0 + 100s, t0 + 700s, l) == Expiry::idle_timeout);
  CHECK(expiry(true, false, true, t0, t0, t0 + 7000s, l) == Expiry::none);  // the vendor side is never cut
  CHECK(l.sweep_interval() == 2000ms);
  CHECK(limits(200ms, 600s, 1, 1).sweep_interval() == 40ms);
}

TEST_CASE("A TLS or WSS client that never handshakes is closed and counted", "[sip][connlimits]") {
  TestCertificate certificate;
  Lab lab(limits(200ms, 60s, 100, 10));
  REQUIRE(lab.transports.open_tls(Side::lan, ip("127.0.0.1"), lab.port, certificate.cert, certificate.key));
  Client silent("127.0.0.1", lab.port);
  REQUIRE(run_until(lab.io, [&] { return lab.accepted() == 1; }));
  REQUIRE(run_until(lab.io, [&] { return silent.poll(), silent.closed; }));
  CHECK(lab.drops["handshake_timeout"] == 1);
  CHECK(lab.drops["tls_handshake"] == 0);  // the aborted handshake is not counted twice
  CHECK(lab.accepted() == 0);

  // A WSS hand-over whose browser says nothing more: the same deadline.
  REQUIRE(lab.transports.enable_wss(Side::lan, 443, certificate.cert, certificate.key));
  tcp::acceptor passthrough(lab.io, tcp::endpoint(ip("127.0.0.1"), 0));
  Client browser("127.0.0.1", passthrough.local_endpoint().port());
  CHECK(lab.transports.accept_wss(passthrough.accept(), {}));
  CHECK(lab.accepted() == 1);
  REQUIRE(run_until(lab.io, [&] { return browser.poll(), browser.closed; }));
  CHECK(lab.drops["handshake_timeout"] == 2);
  CHECK(lab.drops["tls_handshake"] == 0);
  CHECK(lab.accepted() == 0);
}

TEST_CASE("An idle TCP connection is closed; one sending CRLF keep-alives stays open", "[sip][connlimits]") {
  Lab lab(limits(1s, 300ms, 100, 10));
  lab.open_tcp();
  Client idle("127.0.0.1", lab.port), pinging("127.0.0.1", lab.port);
  REQUIRE(run_until(lab.io, [&] { return lab.accepted() == 2; }));
  std::string pongs;
  auto next_ping = std::chrono::steady_clock::now();
  REQUIRE(run_until(lab.io, [&] {
    if (std::chrono::steady_clock::now() >= next_ping) pinging.send("\r\n\r\n"), next_ping += 100ms;
    pongs += pinging.poll();
    idle.poll();
    return idle.closed;
  }));
  CHECK(lab.drops["idle_timeout"] == 1);
  CHECK_FALSE(pinging.closed);
  CHECK(pongs.find("\r\n") != std::string::npos);
  CHECK(lab.accepted() == 1);
  // Still there, and its pong still works (a pong still in flight may come with it).
  pongs.clear();
  pinging.send("\r\n\r\n");
  REQUIRE(run_until(lab.io, [&] { return (pongs += pinging.poll()).find("\r\n") != std::string::npos || pinging.closed; }));
  CHECK(pongs.find("\r\n") != std::string::npos);
  CHECK_FALSE(pinging.closed);
}

TEST_CASE("A third connection from one source is refused and counted; the first two carry SIP",
          "[sip][connlimits]") {
  Lab lab(limits(1s, 60s, 100, 2));
  lab.open_tcp();
  Client first("127.0.0.1", lab.port), second("127.0.0.1", lab.port);
  REQUIRE(run_until(lab.io, [&] { return lab.accepted() == 2; }));
  Client third("127.0.0.1", lab.port);
  REQUIRE(run_until(lab.io, [&] { return third.poll(), third.closed; }));
  CHECK(lab.drops["connection_limit"] == 1);
  Client other_source("127.0.0.2", lab.port);  // its own allowance
  REQUIRE(run_until(lab.io, [&] { return lab.accepted() == 3; }));
  carries_sip_end_to_end(lab, first);
  carries_sip_end_to_end(lab, second);
  carries_sip_end_to_end(lab, other_source);
  CHECK(lab.drops["connection_limit"] == 1);
  auto status = lab.transports.connection_status();
  CHECK(status["busiest_source"] == 2);
  CHECK(status["max_per_source"] == 2);
}

TEST_CASE("Over max_connections a TCP accept and a WSS hand-over are refused and counted", "[sip][connlimits]") {
  TestCertificate certificate;
  Lab lab(limits(1s, 60s, 2, 10));
  lab.open_tcp();
  REQUIRE(lab.transports.enable_wss(Side::lan, 443, certificate.cert, certificate.key));
  Client first("127.0.0.1", lab.port), second("127.0.0.2", lab.port);
  REQUIRE(run_until(lab.io, [&] { return lab.accepted() == 2; }));
  Client third("127.0.0.3", lab.port);
  REQUIRE(run_until(lab.io, [&] { return third.poll(), third.closed; }));
  CHECK(lab.drops["connection_limit"] == 1);

  // A browser's connection handed over by the TLS passthrough counts against the same limit.
  tcp::acceptor passthrough(lab.io, tcp::endpoint(ip("127.0.0.1"), 0));
  Client browser("127.0.0.4", passthrough.local_endpoint().port());
  tcp::socket handed = passthrough.accept();
  CHECK(lab.transports.accept_wss(std::move(handed), {}));
  REQUIRE(run_until(lab.io, [&] { return browser.poll(), browser.closed; }));
  CHECK(lab.drops["connection_limit"] == 2);
  CHECK(lab.accepted() == 2);

  carries_sip_end_to_end(lab, first);
  carries_sip_end_to_end(lab, second);
}
