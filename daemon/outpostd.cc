// outpostd: the outpost appliance daemon.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "daemon/config_loader.h"
#include "daemon/daemon.h"
#include "generated/build_info.h"

namespace {

constexpr int kExitConfig = 2;

// Detaches from the terminal. The parent waits until the child says it is ready (or
// failed) so that `outpostd` without --foreground still reports start-up errors.
// Returns the write end of the readiness pipe in the child; never returns in the parent.
int daemonize() {
  int fds[2];
  if (::pipe(fds) != 0) {
    std::perror("outpostd: pipe");
    std::exit(1);
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("outpostd: fork");
    std::exit(1);
  }
  if (pid > 0) {
    ::close(fds[1]);
    char code = 1;
    ssize_t n = ::read(fds[0], &code, 1);
    std::_Exit(n == 1 ? code : 1);
  }
  ::close(fds[0]);
  ::setsid();
  if (::chdir("/") != 0) {
  }
  int null = ::open("/dev/null", O_RDWR);
  if (null >= 0) {
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    if (null > 2) ::close(null);
  }
  return fds[1];
}

// Every relayed stream holds four UDP sockets, eight with the io_uring engine (each with a
// connected twin), plus up to media.parked_streams parked ones, so 1000 calls need 8000
// descriptors or more; the usual soft limit is 1024. Raise it to the
// hard limit (systemd's LimitNOFILE, the shell's ulimit -Hn) and say what it is.
std::string raise_open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return "unknown";
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return limit.rlim_cur == RLIM_INFINITY ? "unlimited" : std::to_string(limit.rlim_cur);
}

void report_ready(int fd, char code) {
  if (fd < 0) return;
  if (::write(fd, &code, 1) != 1) {
  }
  ::close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"outpostd: the outpost edge appliance daemon (see outpostd(8))", "outpostd"};
  std::string config_file = "/etc/outpost/outpost.yaml";
  std::string profile_dir;
  bool check_only = false, foreground = false, version = false;
  app.add_option("-c,--config", config_file, "configuration file")->capture_default_str();
  app.add_option("--profile-dir", profile_dir, "directory of vendor profiles (overrides the config)");
  app.add_flag("--check-config", check_only, "validate the configuration and exit (0 valid, 2 invalid)");
  app.add_flag("-f,--foreground", foreground, "stay in the foreground and log to stderr (as under systemd)");
  app.add_flag("-V,--version", version, "print the version and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitConfig;
  }
  if (version) {
    std::printf("outpostd %s (%s)\n", outpost::build::kVersion, outpost::build::kGitRevision);
    return 0;
  }

  outpost::config::LoadOptions load_options{profile_dir};
  auto loaded = outpost::config::load_config(config_file, load_options);
  if (!loaded.config) {
    std::fputs(loaded.errors.to_string().c_str(), stderr);
    std::fprintf(stderr, "outpostd: %zu error%s in %s\n", loaded.errors.size(), loaded.errors.size() == 1 ? "" : "s",
                 config_file.c_str());
    return kExitConfig;
  }
  if (check_only) {
    const auto& c = *loaded.config;
    std::printf("%s: configuration valid (vendor %s, %zu name patterns, %zu prefixes)\n", config_file.c_str(),
                c.vendor.profile.empty() ? "inline" : c.vendor.profile.c_str(), c.vendor.fqdns.size(),
                c.vendor.prefixes.size());
    return 0;
  }

  std::signal(SIGPIPE, SIG_IGN);
  int ready_fd = foreground ? -1 : daemonize();
  std::unique_ptr<outpost::LogSink> sink;
  if (foreground) sink = std::make_unique<outpost::StderrLogSink>();
  else sink = std::make_unique<outpost::SyslogLogSink>("outpostd");
  auto notifier = outpost::make_systemd_notifier();
  ::umask(007);
  outpost::Logger(*sink, "outpostd").info("open file limit ", raise_open_file_limit());

  outpost::Daemon daemon({config_file, load_options}, std::move(*loaded.config), *sink, *notifier);
  if (auto r = daemon.start(); !r) {
    outpost::Logger(*sink, "outpostd").err("cannot start: ", r.error().message);
    report_ready(ready_fd, 1);
    return 1;
  }
  report_ready(ready_fd, 0);
  return daemon.run();
}
