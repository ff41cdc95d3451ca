#pragma once
// The control protocol's command table. The daemon's ControlServer owns the Unix socket
// and the framing; components register their commands here and are called on the
// daemon's event loop. Protocol: one JSON object per line each way.
//   request:  {"command": "show dns", "args": {...}}
//   response: {"ok": true, "data": {...}}  or  {"ok": false, "error": "...", "code": N}
// Commands are words separated by spaces: "status", "show version", "dns lookup". A request
// may instead carry {"words": [...]}: the longest registered prefix is the command and the
// remaining words become args.args (what outpostctl sends).
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace outpost {

using Json = nlohmann::json;

struct ControlReply {
  bool ok = true;
  Json data = Json::object();
  std::string error;
  int code = 0;  // outpostctl's exit code on failure: 1 failed, 2 usage

  static ControlReply success(Json data = Json::object()) { return {true, std::move(data), {}, 0}; }
  static ControlReply failure(std::string error, int code = 1) { return {false, Json::object(), std::move(error), code}; }
  static ControlReply usage(std::string error) { return failure(std::move(error), 2); }
  Json to_json() const;
};

// A handler answers now or later, but exactly once, through the responder.
using ControlResponder = std::function<void(ControlReply)>;
using AsyncControlHandler = std::function<void(const Json& args, ControlResponder respond)>;
using ControlHandler = std::function<ControlReply(const Json& args)>;

class ControlRegistry;

// Keeps a command registered while alive; components hold these, so their commands
// disappear with them.
class ControlRegistration {
 public:
  ControlRegistration() = default;
  ControlRegistration(ControlRegistry* registry, std::string command)
      : registry_(registry), command_(std::move(command)) {}
  ControlRegistration(ControlRegistration&& o) noexcept { *this = std::move(o); }
  ControlRegistration& operator=(ControlRegistration&& o) noexcept;
  ControlRegistration(const ControlRegistration&) = delete;
  ControlRegistration& operator=(const ControlRegistration&) = delete;
  ~ControlRegistration() { reset(); }
  void reset();

 private:
  ControlRegistry* registry_ = nullptr;
  std::string command_;
};

class ControlRegistry {
 public:
  [[nodiscard]] ControlRegistration add(const std::string& command, const std::string& help, ControlHandler handler);
  [[nodiscard]] ControlRegistration add_async(const std::string& command, const std::string& help,
                                              AsyncControlHandler handler);
  // Runs the handler for `command`; unknown commands get a usage failure.
  void dispatch(const std::string& command, const Json& args, ControlResponder respond) const;
  // Parses one request line and dispatches it.
  void dispatch_line(const std::string& line, ControlResponder respond) const;
  // Command names with their help text, for `outpostctl help` and completion.
  Json describe() const;
  bool has(const std::string& command) const { return entries_.count(command) > 0; }

 private:
  friend class ControlRegistration;
  struct Entry {
    std::string help;
    AsyncControlHandler handler;
  };
  std::map<std::string, Entry> entries_;
};

}  // namespace outpost
