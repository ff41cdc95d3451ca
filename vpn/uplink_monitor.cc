#include "vpn/uplink_monitor.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <random>

namespace outpost::vpn {
namespace {

namespace asio = boost::asio;
using udp = asio::ip::udp;

constexpr char kMagic[8] = {'O', 'P', 'P', 'R', 'O', 'B', 'E', '1'};
constexpr size_t kProbeSize = 32;  // magic, instance, path, seq

void put64(uint8_t* p, uint64_t v) {
  for (int i = 7; i >= 0; --i) p[7 - i] = uint8_t(v >> (8 * i));
}
uint64_t get64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}
size_t index(Path p) { return p == Path::primary ? 0 : 1; }

}  // namespace

UplinkMonitor::UplinkMonitor(asio::io_context& io, Logger log, Events events)
    : io_(io), log_(std::move(log)), events_(std::move(events)), timer_(io), instance_(std::random_device{}()) {
  instance_ = (instance_ << 32) ^ std::random_device{}();
}

UplinkMonitor::~UplinkMonitor() {
  *alive_ = false;
  stop();
}

void UplinkMonitor::set_path(Path path, std::optional<ProbePath> p) {
  auto& c = channels_[index(path)];
  bool same = c.path && p && c.path->ifname == p->ifname && c.path->source == p->source;
  if (same) return;
  c.path = std::move(p);
  reopen(path);
}

void UplinkMonitor::reopen(Path path) {
  auto& c = channels_[index(path)];
  if (c.socket) {
    boost::system::error_code ec;
    c.socket->close(ec);
    c.socket.reset();
  }
}

void UplinkMonitor::start() {
  running_ = true;
  next_ = Clock::now();
  schedule();
}

void UplinkMonitor::stop() {
  running_ = false;
  timer_.cancel();
  reopen(Path::primary);
  reopen(Path::backup);
}

void UplinkMonitor::schedule() {
  next_ += interval_;
  auto now = Clock::now();
  if (next_ < now) next_ = now;  // after a stall, do not send a burst
  timer_.expires_at(next_);
  timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
    if (ec || !*alive || !running_) return;
    round(Clock::now());
    schedule();
  });
}

bool UplinkMonitor::open(Path path, Channel& c) {
  auto sock = std::make_unique<udp::socket>(io_);
  boost::system::error_code ec;
  sock->open(c.path->source.is_v4() ? udp::v4() : udp::v6(), ec);
  int fd = ec ? -1 : sock->native_handle();
  int one = 1;
  std::string why;
  if (ec) why = "socket: " + ec.message();
  else if (::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, c.path->ifname.c_str(), socklen_t(c.path->ifname.size())) != 0)
    why = "SO_BINDTODEVICE " + c.path->ifname + ": " + std::strerror(errno);
  else if (::setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof one) != 0)
    why = std::string("IP_FREEBIND: ") + std::strerror(errno);
  else if (sock->bind(udp::endpoint(c.path->source, 0), ec); ec)
    why = "bind " + c.path->source.to_string() + ": " + ec.message();
  if (!why.empty()) {
    if (why != c.last_error) log_.warn(to_string(path), " probe socket: ", why);
    c.last_error = why;
    ++counters_.socket_errors;
    return false;
  }
  c.last_error.clear();
  sock->non_blocking(true, ec);
  c.socket = std::move(sock);
  receive(path, c);
  return true;
}

void UplinkMonitor::receive(Path path, Channel& c) {
  auto* sock = c.socket.get();
  sock->async_receive_from(asio::buffer(c.buffer), c.from,
                           [this, path, sock, alive = alive_](boost::system::error_code ec, size_t n) {
                             if (!*alive) return;
                             auto& ch = channels_[index(path)];
                             if (ch.socket.get() != sock) return;  // closed or replaced meanwhile
                             if (ec == asio::error::operation_aborted) return;
                             auto now = Clock::now();
                             bool from_target = false;
                             for (const auto& t : targets_)
                               if (t.address == ch.from.address() && t.port == ch.from.port()) from_target = true;
                             if (ec || n != kProbeSize || std::memcmp(ch.buffer.data(), kMagic, 8) != 0 ||
                                 get64(ch.buffer.data() + 8) != instance_ || ch.buffer[16] != index(path) ||
                                 !from_target)
                               ++counters_.bad_echoes;
                             else
                               events_.echo(path, get64(ch.buffer.data() + 24), now);
                             receive(path, ch);
                           });
}

void UplinkMonitor::round(TimePoint now) {
  for (Path path : {Path::primary, Path::backup}) {
    auto& c = channels_[index(path)];
    if (!c.path) continue;
    uint64_t seq = ++c.seq;
    // A probe that cannot leave counts as sent and, later, lost: a missing interface or
    // address is a dead uplink.
    events_.sent(path, seq, now);
    if (!c.socket && !open(path, c)) continue;
    std::array<uint8_t, kProbeSize> p{};
    std::memcpy(p.data(), kMagic, 8);
    put64(p.data() + 8, instance_);
    p[16] = uint8_t(index(path));
    put64(p.data() + 24, seq);
    for (const auto& t : targets_) {
      boost::system::error_code ec;
      c.socket->send_to(asio::buffer(p), udp::endpoint(t.address, t.port), 0, ec);
      if (ec && ec != asio::error::would_block) {
        ++counters_.send_errors;
        // ENODEV/ENXIO: the interface went away; ENETUNREACH: no route yet. Reopen next time.
        if (ec.value() == ENODEV || ec.value() == ENXIO) {
          reopen(path);
          break;
        }
      }
    }
  }
  events_.tick(now);
}

}  // namespace outpost::vpn
