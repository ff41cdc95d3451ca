// outpostctl: the operator's command line for outpostd (see outpostctl(8)).
// Exit codes: 0 ok, 1 the command failed, 2 usage error, 3 daemon unreachable.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "daemon/config_loader.h"
#include "daemon/ctl_render.h"
#include "generated/build_info.h"

namespace {

using nlohmann::json;

constexpr int kOk = 0, kFailed = 1, kUsage = 2, kUnreachable = 3;

struct Options {
  std::string socket = "/run/outpost/control.sock";
  bool json_output = false;
  double timeout_s = 10;
};

// Positional words and --key[=value] options after the command, as the daemon expects them.
struct Request {
  std::vector<std::string> words;
  json args = json::object();
};

Request split_request(const std::vector<std::string>& tokens) {
  Request r;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const auto& t = tokens[i];
    if (t.size() > 2 && t.rfind("--", 0) == 0) {
      std::string key = t.substr(2);
      auto eq = key.find('=');
      std::replace(key.begin(), key.end(), '-', '_');
      if (eq != std::string::npos) r.args[key.substr(0, eq)] = t.substr(2 + eq + 1);  // the value keeps its dashes
      else if (i + 1 < tokens.size() && tokens[i + 1].rfind("--", 0) != 0) r.args[key] = tokens[++i];
      else r.args[key] = true;
    } else {
      r.words.push_back(t);
    }
  }
  return r;
}

int unreachable(const Options& o, const std::string& why) {
  std::cerr << "outpostctl: cannot reach outpostd at " << o.socket << ": " << why << "\n"
            << "  Is outpostd running? (systemctl status outpostd)\n"
            << "  Are you root or in group 'outpost'?\n"
            << "  Another socket: outpostctl -s PATH (or OUTPOST_CONTROL_SOCKET).\n";
  return kUnreachable;
}

// Sends one request line and reads lines until the final reply; progress lines
// ({"progress": "..."}) from long operations are shown on stderr as they come.
int call(const Options& o, const json& request, json& reply) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return unreachable(o, std::strerror(errno));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (o.socket.size() >= sizeof addr.sun_path) return unreachable(o, "socket path too long");
  std::strcpy(addr.sun_path, o.socket.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    ::close(fd);
    return unreachable(o, std::strerror(e));
  }
  std::string line = request.dump() + "\n";
  if (::send(fd, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
    ::close(fd);
    return unreachable(o, "connection closed while sending");
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(o.timeout_s);
  std::string buffer;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::close(fd);
      std::cerr << "outpostctl: no answer from outpostd within " << o.timeout_s << " s (use --timeout)\n";
      return kFailed;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char chunk[65536];
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) {
      ::close(fd);
      return unreachable(o, "connection closed before the reply");
    }
    buffer.append(chunk, static_cast<size_t>(n));
    size_t nl;
    while ((nl = buffer.find('\n')) != std::string::npos) {
      json msg = json::parse(buffer.substr(0, nl), nullptr, false);
      buffer.erase(0, nl + 1);
      if (msg.is_discarded() || !msg.is_object()) {
        ::close(fd);
        std::cerr << "outpostctl: malformed reply from outpostd\n";
        return kFailed;
      }
      if (msg.contains("progress")) {
        if (!o.json_output) std::cerr << msg["progress"].get<std::string>() << "\n";
        continue;
      }
      reply = std::move(msg);
      ::close(fd);
      return kOk;
    }
  }
}

int print_reply(const Options& o, const json& reply) {
  bool ok = reply.value("ok", false);
  if (o.json_output) {
    std::cout << (ok ? reply.value("data", json::object()) : reply).dump(2) << "\n";
  } else if (ok) {
    std::cout << outpost::ctl::render_human(reply.value("data", json::object()));
  } else {
    std::cerr << "outpostctl: " << reply.value("error", std::string("failed")) << "\n";
    if (reply.contains("data") && !reply["data"].empty()) std::cerr << outpost::ctl::render_human(reply["data"]);
  }
  if (ok) return kOk;
  return reply.value("code", kFailed) == kUsage ? kUsage : kFailed;
}

int config_check(const Options& o, const std::vector<std::string>& words, const json& args) {
  if (words.size() != 3) {
    std::cerr << "usage: outpostctl config check FILE [--profile-dir DIR]\n";
    return kUsage;
  }
  outpost::config::LoadOptions lo;
  if (args.contains("profile_dir")) lo.profile_dir = args["profile_dir"].get<std::string>();
  auto r = outpost::config::load_config(words[2], lo);
  if (o.json_output) {
    json errors = json::array();
    for (const auto& e : r.errors.list())
      errors.push_back({{"file", e.file}, {"line", e.line}, {"column", e.column}, {"message", e.message}});
    std::cout << json{{"file", words[2]}, {"valid", r.config.has_value()}, {"errors", errors}}.dump(2) << "\n";
  } else if (r.config) {
    std::cout << words[2] << ": configuration valid\n";
  } else {
    std::cerr << r.errors.to_string();
    std::cerr << words[2] << ": " << r.errors.size() << " error" << (r.errors.size() == 1 ? "" : "s") << "\n";
  }
  return r.config ? kOk : kFailed;
}

const char* kUsageText =
    "usage: outpostctl [-s SOCKET] [--json] [--timeout S] COMMAND [ARGS...]\n"
    "\n"
    "commands:\n"
    "  status                    daemon state, uptime, config and components\n"
    "  show version              version and build\n"
    "  show config               the running configuration\n"
    "  show COMPONENT            a component's state and counters (dns, sip, calls, tls, uplinks, ...)\n"
    "  config check FILE         validate a configuration file (locally; no daemon needed)\n"
    "  config reload             re-read the configuration (like SIGHUP)\n"
    "  COMPONENT ACTION [ARGS]   component actions (dns lookup NAME, uplink prefer auto, ...)\n"
    "  help                      list every command the running daemon answers\n"
    "\n"
    "exit codes: 0 ok, 1 failed, 2 usage, 3 daemon unreachable\n";

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (const char* env = std::getenv("OUTPOST_CONTROL_SOCKET"); env && *env) o.socket = env;
  CLI::App app{"outpostctl: operate outpostd (see outpostctl(8))", "outpostctl"};
  app.set_help_flag();  // `help` and -h are handled below, with our own text
  bool show_help = false, version = false;
  app.add_option("-s,--socket", o.socket, "control socket of outpostd");
  app.add_flag("-j,--json", o.json_output, "print JSON instead of tables");
  app.add_option("--timeout", o.timeout_s, "seconds to wait for the daemon's answer");
  app.add_flag("-h,--help", show_help, "show this help");
  app.add_flag("-V,--version", version, "print outpostctl's version");
  app.allow_extras();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::cerr << "outpostctl: " << e.what() << "\n" << kUsageText;
    return kUsage;
  }
  if (version) {
    std::cout << "outpostctl " << outpost::build::kVersion << " (" << outpost::build::kGitRevision << ")\n";
    return kOk;
  }
  Request req = split_request(app.remaining());
  if (show_help || (req.words.empty())) {
    (show_help ? std::cout : std::cerr) << kUsageText;
    return show_help ? kOk : kUsage;
  }
  if (req.words.size() >= 2 && req.words[0] == "config" && req.words[1] == "check")
    return config_check(o, req.words, req.args);

  json reply;
  int rc = call(o, json{{"words", req.words}, {"args", req.args}}, reply);
  if (rc != kOk) return rc;
  if (req.words[0] == "help" && reply.value("ok", false) && !o.json_output) {
    std::cout << kUsageText << "\ncommands of the running daemon:\n";
    for (const auto& c : reply["data"]["commands"])
      std::cout << "  " << std::left << std::setw(26) << c["command"].get<std::string>() << c["help"].get<std::string>()
                << "\n";
    return kOk;
  }
  return print_reply(o, reply);
}
