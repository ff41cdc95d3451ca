#include "common/log.h"

#include <syslog.h>

#include <array>
#include <cstdio>

namespace outpost {
namespace {
constexpr std::array<std::string_view, 8> kLevelNames = {"emerg", "alert", "crit", "err",
                                                         "warning", "notice", "info", "debug"};
}

std::optional<LogLevel> parse_log_level(std::string_view name) {
  for (size_t i = 0; i < kLevelNames.size(); ++i)
    if (kLevelNames[i] == name) return static_cast<LogLevel>(i);
  if (name == "error") return LogLevel::err;
  if (name == "warn") return LogLevel::warning;
  return std::nullopt;
}

std::string_view to_string(LogLevel level) { return kLevelNames.at(static_cast<size_t>(level)); }

void StderrLogSink::write(LogLevel level, std::string_view component, std::string_view message) {
  std::lock_guard lock(mutex_);
  std::fprintf(stderr, "<%d>%.*s: %.*s\n", static_cast<int>(level), static_cast<int>(component.size()),
               component.data(), static_cast<int>(message.size()), message.data());
  std::fflush(stderr);
}

SyslogLogSink::SyslogLogSink(const char* ident) { openlog(ident, LOG_PID, LOG_DAEMON); }
SyslogLogSink::~SyslogLogSink() { closelog(); }

void SyslogLogSink::write(LogLevel level, std::string_view component, std::string_view message) {
  syslog(static_cast<int>(level), "%.*s: %.*s", static_cast<int>(component.size()), component.data(),
         static_cast<int>(message.size()), message.data());
}

void MemoryLogSink::write(LogLevel level, std::string_view component, std::string_view message) {
  std::lock_guard lock(mutex_);
  text_ += "<" + std::to_string(static_cast<int>(level)) + ">";
  text_ += component;
  text_ += ": ";
  text_ += message;
  text_ += "\n";
}

std::string MemoryLogSink::text() const {
  std::lock_guard lock(mutex_);
  return text_;
}

bool RateLimitedLog::admit() {
  auto now = std::chrono::steady_clock::now();
  if (now - window_start_ >= interval_) {
    if (suppressed_ > 0)
      logger_.warn("suppressed ", suppressed_, " similar messages in the last ", interval_.count(), " s");
    window_start_ = now;
    in_window_ = 0;
    suppressed_ = 0;
  }
  if (in_window_ < burst_) {
    ++in_window_;
    return true;
  }
  ++suppressed_;
  return false;
}

}  // namespace outpost
