#include "vpn/wireguard_tunnel.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <thread>
#include <vector>

#include "vpn/netlink_routing.h"

namespace outpost::vpn {

bool TunnelSettings::operator==(const TunnelSettings& o) const {
  return ifname == o.ifname && address.to_string() == o.address.to_string() && mtu == o.mtu &&
         wg::set_request(device) == wg::set_request(o.device) && binary == o.binary;
}

Result<void> WireGuardTunnel::start(const TunnelSettings& s) {
  if (pid_ > 0 && s.ifname != settings_.ifname) stop();
  settings_ = s;
  if (!running()) {
    ::unlink(socket_path().c_str());  // a stale socket from a killed engine blocks the new one
    // Everything the child needs is built before fork(): only async-signal-safe calls after.
    std::vector<std::string> env_text = {"WG_PROCESS_FOREGROUND=1", "LOG_LEVEL=error"};
    for (char** e = environ; *e; ++e)
      if (std::strncmp(*e, "WG_", 3) != 0 && std::strncmp(*e, "LOG_LEVEL=", 10) != 0) env_text.emplace_back(*e);
    std::vector<char*> envp;
    for (auto& e : env_text) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string binary = s.binary, ifname = s.ifname;
    char* argv[] = {binary.data(), const_cast<char*>("-f"), ifname.data(), nullptr};
    pid_t pid = ::fork();
    if (pid < 0) return make_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
      // The engine must not outlive outpostd, even when outpostd is SIGKILLed.
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      int devnull = ::open("/dev/null", O_RDONLY);
      if (devnull >= 0) ::dup2(devnull, 0);
      ::execve(argv[0], argv, envp.data());  // WG_PROCESS_FOREGROUND=1: no misleading banner
      ::_exit(127);
    }
    pid_ = pid;
    ++restarts_;
    // wireguard-go opens the TUN device, then the UAPI socket: wait for the socket.
    struct stat st{};
    for (int i = 0; i < 300 && ::stat(socket_path().c_str(), &st) != 0; ++i) {
      if (!running()) return make_error(s.binary + " exited at start (see its messages above)");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (::stat(socket_path().c_str(), &st) != 0) return make_error("no UAPI socket " + socket_path() + " after 3 s");
  }
  auto reply = exchange(wg::set_request(s.device));
  if (!reply) return reply.error();
  auto parsed = wg::parse_reply(*reply);
  if (parsed.errno_value != 0)
    return make_error("wireguard-go refused the configuration (errno=" + std::to_string(parsed.errno_value) + ")");
  if (auto r = netlink_.set_link(s.ifname, true, s.mtu); !r) return r;
  if (auto r = netlink_.ensure_address(s.ifname, s.address); !r) return r;
  log_.info("tunnel ", s.ifname, " up (wireguard-go pid ", pid_, "), peer ", s.device.peer.endpoint.to_string(),
            ", inner ", s.address.to_string());
  return {};
}

void WireGuardTunnel::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

bool WireGuardTunnel::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    log_.warn("wireguard-go (pid ", pid_, ") exited with status ", status);
    pid_ = -1;
    return false;
  }
  return true;
}

Result<std::string> WireGuardTunnel::exchange(const std::string& request) const {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_error(std::string("socket: ") + std::strerror(errno));
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket_path().c_str(), sizeof addr.sun_path - 1);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    ::close(fd);
    return make_error("UAPI " + socket_path() + ": " + std::strerror(e));
  }
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != ssize_t(request.size())) {
    ::close(fd);
    return make_error("UAPI write failed");
  }
  char buf[4096];
  while (!wg::reply_complete(out)) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, size_t(n));
  }
  ::close(fd);
  if (!wg::reply_complete(out)) return make_error("UAPI: incomplete reply");
  return out;
}

Result<wg::DeviceStatus> WireGuardTunnel::query() const {
  auto r = exchange(wg::get_request());
  if (!r) return r.error();
  return wg::parse_reply(*r);
}

nlohmann::json WireGuardTunnel::status() const {
  nlohmann::json j = {{"engine", "wireguard-go"}, {"interface", settings_.ifname}, {"pid", pid_},
                      {"inner_address", settings_.address.to_string()},
                      {"peer", settings_.device.peer.endpoint.to_string()}, {"engine_starts", restarts_}};
  if (pid_ <= 0) return j;
  auto q = query();
  if (!q || q->peers.empty()) return j;
  const auto& p = q->peers.front();
  j["rx_bytes"] = p.rx_bytes;
  j["tx_bytes"] = p.tx_bytes;
  j["last_handshake_s_ago"] =
      p.last_handshake_s ? nlohmann::json(int64_t(std::time(nullptr)) - int64_t(p.last_handshake_s)) : nlohmann::json(nullptr);
  return j;
}

}  // namespace outpost::vpn
