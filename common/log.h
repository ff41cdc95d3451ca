#pragma once
// Logging: one sink per process, one Logger per component (a tag plus the sink).
// The stderr sink writes "<N>component: message" lines; journald reads the <N> prefix
// as the syslog priority, so levels survive into the journal.
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

namespace outpost {

enum class LogLevel { emerg = 0, alert, crit, err, warning, notice, info, debug };

std::optional<LogLevel> parse_log_level(std::string_view name);
std::string_view to_string(LogLevel level);

class LogSink {
 public:
  virtual ~LogSink() = default;
  virtual void write(LogLevel level, std::string_view component, std::string_view message) = 0;
  void set_threshold(LogLevel level) { threshold_ = level; }
  bool enabled(LogLevel level) const { return level <= threshold_; }

 private:
  LogLevel threshold_ = LogLevel::info;
};

// Writes to stderr with syslog priority prefixes (for journald or a terminal).
class StderrLogSink : public LogSink {
 public:
  void write(LogLevel level, std::string_view component, std::string_view message) override;

 private:
  std::mutex mutex_;  // components with worker threads may log concurrently
};

// Writes to syslog(3), used when outpostd detaches from its terminal.
class SyslogLogSink : public LogSink {
 public:
  explicit SyslogLogSink(const char* ident);
  ~SyslogLogSink() override;
  void write(LogLevel level, std::string_view component, std::string_view message) override;
};

// Collects lines in memory: for tests.
class MemoryLogSink : public LogSink {
 public:
  void write(LogLevel level, std::string_view component, std::string_view message) override;
  std::string text() const;

 private:
  mutable std::mutex mutex_;
  std::string text_;
};

class Logger {
 public:
  Logger(LogSink& sink, std::string component) : sink_(&sink), component_(std::move(component)) {}
  Logger child(std::string_view sub) const { return Logger(*sink_, component_ + "/" + std::string(sub)); }

  template <class... Args>
  void log(LogLevel level, const Args&... args) const {
    if (!sink_->enabled(level)) return;
    std::ostringstream out;
    (out << ... << args);
    sink_->write(level, component_, out.str());
  }
  template <class... Args> void err(const Args&... a) const { log(LogLevel::err, a...); }
  template <class... Args> void warn(const Args&... a) const { log(LogLevel::warning, a...); }
  template <class... Args> void notice(const Args&... a) const { log(LogLevel::notice, a...); }
  template <class... Args> void info(const Args&... a) const { log(LogLevel::info, a...); }
  template <class... Args> void debug(const Args&... a) const { log(LogLevel::debug, a...); }

  LogSink& sink() const { return *sink_; }
  const std::string& component() const { return component_; }

 private:
  LogSink* sink_;
  std::string component_;
};

// Bad input from the network must be logged without letting a flood fill the journal:
// at most `burst` lines per `interval`, then one line saying how many were suppressed.
class RateLimitedLog {
 public:
  RateLimitedLog(Logger logger, unsigned burst = 10,
                 std::chrono::seconds interval = std::chrono::seconds(10))
      : logger_(std::move(logger)), burst_(burst), interval_(interval) {}

  template <class... Args>
  void warn(const Args&... args) {
    if (admit()) logger_.warn(args...);
  }
  template <class... Args>
  void info(const Args&... args) {
    if (admit()) logger_.info(args...);
  }

 private:
  bool admit();
  Logger logger_;
  unsigned burst_;
  std::chrono::seconds interval_;
  std::chrono::steady_clock::time_point window_start_{};
  unsigned in_window_ = 0;
  uint64_t suppressed_ = 0;
};

}  // namespace outpost
