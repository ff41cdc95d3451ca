#include "common/control.h"

#include <stdexcept>

namespace outpost {

Json ControlReply::to_json() const {
  if (ok) return Json{{"ok", true}, {"data", data}};
  return Json{{"ok", false}, {"error", error}, {"code", code}};
}

ControlRegistration& ControlRegistration::operator=(ControlRegistration&& o) noexcept {
  if (this != &o) {
    reset();
    registry_ = std::exchange(o.registry_, nullptr);
    command_ = std::move(o.command_);
  }
  return *this;
}

void ControlRegistration::reset() {
  if (registry_) registry_->entries_.erase(command_);
  registry_ = nullptr;
}

ControlRegistration ControlRegistry::add(const std::string& command, const std::string& help,
                                         ControlHandler handler) {
  return add_async(command, help, [h = std::move(handler)](const Json& args, ControlResponder respond) {
    respond(h(args));
  });
}

ControlRegistration ControlRegistry::add_async(const std::string& command, const std::string& help,
                                               AsyncControlHandler handler) {
  if (!entries_.emplace(command, Entry{help, std::move(handler)}).second)
    throw std::logic_error("control command registered twice: " + command);
  return ControlRegistration(this, command);
}

void ControlRegistry::dispatch(const std::string& command, const Json& args, ControlResponder respond) const {
  auto it = entries_.find(command);
  if (it == entries_.end()) {
    respond(ControlReply::usage("unknown command '" + command + "' (try: outpostctl help)"));
    return;
  }
  try {
    it->second.handler(args, respond);  // a copy: the catch below may still need it
  } catch (const std::exception& e) {
    // A handler bug must not take the daemon down; say so to the operator.
    respond(ControlReply::failure(std::string("internal error: ") + e.what()));
  }
}

void ControlRegistry::dispatch_line(const std::string& line, ControlResponder respond) const {
  Json request = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (request.is_discarded() || !request.is_object()) {
    respond(ControlReply::usage("request is not a JSON object"));
    return;
  }
  Json args = request.value("args", Json::object());
  if (!args.is_object()) {
    respond(ControlReply::usage("\"args\" must be an object"));
    return;
  }
  auto cmd = request.find("command");
  if (cmd != request.end() && cmd->is_string()) {
    dispatch(cmd->get<std::string>(), args, std::move(respond));
    return;
  }
  // {"words": ["dns", "lookup", "x.example"]}: the longest registered prefix is the
  // command, the words after it are its positional arguments (args.args).
  auto words = request.find("words");
  if (words == request.end() || !words->is_array() || words->empty()) {
    respond(ControlReply::usage("request has no \"command\" string or \"words\" list"));
    return;
  }
  std::vector<std::string> w;
  for (const auto& x : *words) {
    if (!x.is_string()) {
      respond(ControlReply::usage("\"words\" must be strings"));
      return;
    }
    w.push_back(x.get<std::string>());
  }
  for (size_t n = w.size(); n > 0; --n) {
    std::string name;
    for (size_t i = 0; i < n; ++i) name += (i ? " " : "") + w[i];
    if (!has(name)) continue;
    Json positional = Json::array();
    for (size_t i = n; i < w.size(); ++i) positional.push_back(w[i]);
    args["args"] = positional;
    dispatch(name, args, std::move(respond));
    return;
  }
  std::string all;
  for (const auto& x : w) all += (all.empty() ? "" : " ") + x;
  respond(ControlReply::usage("unknown command '" + all + "' (try: outpostctl help)"));
}

Json ControlRegistry::describe() const {
  Json out = Json::array();
  for (const auto& [name, e] : entries_) out.push_back({{"command", name}, {"help", e.help}});
  return out;
}

}  // namespace outpost
