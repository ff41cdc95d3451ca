#include "vpn/uplink_monitor.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

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

// ICMP echo (RFC 792): type, code, checksum, identifier, sequence, then our 32-byte probe
// as the data, which the target echoes back unchanged.
constexpr uint8_t kIcmpEchoRequest = 8, kIcmpEchoReply = 0;
constexpr size_t kIcmpHeader = 8;
constexpr int kSolRaw = 255, kIcmpFilter = 1;  // SOL_RAW, ICMP_FILTER (linux/icmp.h)

uint16_t inet_checksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += uint32_t(p[i]) << 8 | p[i + 1];
  if (n & 1) sum += uint32_t(p[n - 1]) << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

sockaddr_in to_sockaddr(const IpAddress& a, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  auto b = a.to_v4().to_bytes();
  std::memcpy(&sa.sin_addr, b.data(), 4);
  return sa;
}

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
  c.selector = c.path ? ProbeKindSelector(c.path->mode, c.path->fallback_after) : ProbeKindSelector();
  reopen(path);
}

ProbeStatus UplinkMonitor::probe_status(Path path) const {
  const auto& c = channels_[index(path)];
  ProbeStatus s;
  s.mode = c.selector.mode();
  s.in_use = c.selector.in_use();
  s.trying_icmp = c.selector.trying_icmp();
  s.kind_switches = c.selector.switches();
  s.icmp_socket = c.icmp ? (c.icmp_raw ? "raw" : "dgram") : "";
  s.icmp_error = c.icmp_error;
  s.udp_echoes = c.udp_echoes;
  s.icmp_echoes = c.icmp_echoes;
  return s;
}

void UplinkMonitor::reopen(Path path) {
  auto& c = channels_[index(path)];
  if (c.socket) {
    boost::system::error_code ec;
    c.socket->close(ec);
    c.socket.reset();
  }
  if (c.icmp) {
    boost::system::error_code ec;
    c.icmp->close(ec);
    c.icmp.reset();
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
                             else if (++ch.udp_echoes; ch.selector.echo(ProbeKind::udp, get64(ch.buffer.data() + 24)))
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
    ProbeSends kinds = c.selector.next_round(seq);
    if (kinds.icmp && (c.icmp || open_icmp(path, c))) send_icmp(path, c, seq);
    if (!kinds.udp) continue;
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

bool UplinkMonitor::open_icmp(Path path, Channel& c) {
  std::string why;
  int fd = -1;
  bool raw = false;
  if (!c.path->source.is_v4()) {
    why = "ICMP probes are IPv4 only";
  } else {
    // A ping socket needs the process's group in net.ipv4.ping_group_range; a raw socket
    // needs CAP_NET_RAW. Either way the kernel routes it like the UDP probe.
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP);
    if (fd < 0 && (errno == EACCES || errno == EPERM)) {
      fd = ::socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP);
      raw = true;
    }
    int one = 1;
    uint32_t only_echo_replies = ~(uint32_t(1) << kIcmpEchoReply);
    sockaddr_in sa = to_sockaddr(c.path->source, 0);
    if (fd < 0)
      why = std::string("ICMP socket (ping_group_range excludes us and no CAP_NET_RAW?): ") + std::strerror(errno);
    else if (::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, c.path->ifname.c_str(), socklen_t(c.path->ifname.size())) != 0)
      why = "ICMP SO_BINDTODEVICE " + c.path->ifname + ": " + std::strerror(errno);
    else if (::setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof one) != 0)
      why = std::string("ICMP IP_FREEBIND: ") + std::strerror(errno);
    else if (raw && ::setsockopt(fd, kSolRaw, kIcmpFilter, &only_echo_replies, sizeof only_echo_replies) != 0)
      why = std::string("ICMP_FILTER: ") + std::strerror(errno);
    else if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
      why = "ICMP bind " + c.path->source.to_string() + ": " + std::strerror(errno);
  }
  if (!why.empty()) {
    if (fd >= 0) ::close(fd);
    if (why != c.icmp_error) log_.warn(to_string(path), " probe socket: ", why);
    c.icmp_error = why;
    ++counters_.socket_errors;
    return false;
  }
  c.icmp_error.clear();
  c.icmp = std::make_unique<asio::posix::stream_descriptor>(io_, fd);
  c.icmp_raw = raw;
  // A ping socket's identifier is its bound "port" (the kernel rewrites it); a raw socket's is ours.
  c.icmp_id = uint16_t(instance_ ^ (instance_ >> 16) ^ index(path));
  receive_icmp(path, c);
  return true;
}

void UplinkMonitor::send_icmp(Path path, Channel& c, uint64_t seq) {
  std::array<uint8_t, kIcmpHeader + kProbeSize> pkt{};
  pkt[0] = kIcmpEchoRequest;
  pkt[4] = uint8_t(c.icmp_id >> 8);
  pkt[5] = uint8_t(c.icmp_id);
  pkt[6] = uint8_t(seq >> 8);
  pkt[7] = uint8_t(seq);
  uint8_t* body = pkt.data() + kIcmpHeader;
  std::memcpy(body, kMagic, 8);
  put64(body + 8, instance_);
  body[16] = uint8_t(index(path));
  put64(body + 24, seq);
  uint16_t sum = inet_checksum(pkt.data(), pkt.size());
  pkt[2] = uint8_t(sum >> 8);
  pkt[3] = uint8_t(sum);
  for (const auto& t : targets_) {
    if (!t.address.is_v4()) continue;
    sockaddr_in to = to_sockaddr(t.address, 0);
    if (::sendto(c.icmp->native_handle(), pkt.data(), pkt.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0 &&
        errno != EAGAIN) {
      ++counters_.send_errors;
      if (errno == ENODEV || errno == ENXIO) {
        reopen(path);
        return;
      }
    }
  }
}

void UplinkMonitor::receive_icmp(Path path, Channel& c) {
  auto* sd = c.icmp.get();
  sd->async_wait(asio::posix::stream_descriptor::wait_read,
                 [this, path, sd, alive = alive_](boost::system::error_code ec) {
                   if (!*alive) return;
                   auto& ch = channels_[index(path)];
                   if (ch.icmp.get() != sd || ec) return;  // closed or replaced meanwhile
                   read_icmp(path, ch, Clock::now());
                   if (ch.icmp.get() == sd) receive_icmp(path, ch);
                 });
}

void UplinkMonitor::read_icmp(Path path, Channel& c, TimePoint now) {
  for (;;) {
    sockaddr_in from{};
    socklen_t len = sizeof from;
    ssize_t n = ::recvfrom(c.icmp->native_handle(), c.icmp_buffer.data(), c.icmp_buffer.size(), 0,
                           reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) return;  // EAGAIN: drained
    const uint8_t* p = c.icmp_buffer.data();
    size_t size = size_t(n);
    if (c.icmp_raw) {  // a raw socket hands over the IP header too
      size_t ihl = size ? size_t(p[0] & 0x0f) * 4 : 0;
      if (ihl < 20 || ihl > size) {
        ++counters_.bad_echoes;
        continue;
      }
      p += ihl;
      size -= ihl;
    }
    bool from_target = false;
    for (const auto& t : targets_)
      if (t.address.is_v4() && std::memcmp(t.address.to_v4().to_bytes().data(), &from.sin_addr, 4) == 0)
        from_target = true;
    const uint8_t* body = p + kIcmpHeader;
    // A raw socket sees every echo reply to the host: other pingers' are not ours (and not bad).
    if (size >= kIcmpHeader && p[0] == kIcmpEchoReply && size == kIcmpHeader + kProbeSize &&
        std::memcmp(body, kMagic, 8) == 0 && get64(body + 8) == instance_) {
      if (body[16] != index(path) || !from_target) {
        ++counters_.bad_echoes;
        continue;
      }
      ++c.icmp_echoes;
      if (c.selector.echo(ProbeKind::icmp, get64(body + 24))) events_.echo(path, get64(body + 24), now);
    } else if (!c.icmp_raw) {
      ++counters_.bad_echoes;
    }
  }
}

}  // namespace outpost::vpn
