#include "sipalg/keepalive.h"

#include <ctime>
#include <functional>
#include <set>

#include "sipalg/rewrite.h"

namespace outpost::sip {

void KeepAlive::start(std::chrono::seconds interval, const Identity& me) {
  stop();
  interval_ = interval;
  me_ = me;
  if (interval_.count() <= 0) return;
  running_ = true;
  next_slice_ = 0;
  schedule();
}

void KeepAlive::stop() {
  running_ = false;
  timer_.cancel();
}

void KeepAlive::schedule() {
  timer_.expires_after(std::chrono::seconds(1));
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || !running_) return;
    const auto slices = static_cast<unsigned>(interval_.count());
    tick_slice(static_cast<int64_t>(std::time(nullptr)), next_slice_, slices);  // < slices: start() resets it
    next_slice_ = (next_slice_ + 1) % slices;
    schedule();
  });
}

unsigned KeepAlive::slice_of(const std::string& token, unsigned slices) {
  return slices <= 1 ? 0 : static_cast<unsigned>(std::hash<std::string>{}(token) % slices);
}

size_t KeepAlive::tick_slice(int64_t now, unsigned slice, unsigned slices) {
  // decide: each registered UDP device of this slice once (several AORs may share one
  // contact token).
  std::set<std::string> due;
  bindings_.each_registration([&](const Binding& b) {
    if (b.expires_at <= now || slice_of(b.token, slices) != slice) return;
    const DeviceTarget* d = bindings_.lookup(b.token);
    if (d && d->flow.side == Side::lan && d->flow.transport == Transport::udp) due.insert(b.token);
  });
  for (auto it = peers_.begin(); it != peers_.end();) {
    if (slice_of(it->first, slices) == slice && !due.count(it->first)) {
      by_branch_.erase(it->second.branch);
      it = peers_.erase(it);
    } else {
      ++it;
    }
  }
  size_t sent = 0;
  for (const auto& token : due) {
    const DeviceTarget* d = bindings_.lookup(token);
    Peer& p = peers_[token];
    if (!p.branch.empty()) {  // last round's ping got no answer
      by_branch_.erase(p.branch);
      ++p.misses;
      counters_.stats.keepalives_failed.inc();
    }
    // act: one OPTIONS from the LAN address and port the device talks to.
    char id[40];
    std::snprintf(id, sizeof id, "%llx.%llu", static_cast<unsigned long long>(now),
                  static_cast<unsigned long long>(++seq_));
    p.branch = std::string(kKeepAliveBranch) + id;
    const std::string host = me_.lan.to_string();
    std::string req = "OPTIONS " + d->contact + " SIP/2.0\r\nVia: " +
                      via_value(Transport::udp, me_.host_port(d->flow), p.branch) + ";rport\r\nMax-Forwards: 70\r\n" +
                      "From: <sip:outpost@" + host + ">;tag=opka" + id + "\r\nTo: <" + d->contact +
                      ">\r\nCall-ID: opka" + id + "@" + host + "\r\nCSeq: 1 OPTIONS\r\n" +
                      "Accept: application/sdp\r\nUser-Agent: outpost keep-alive\r\nContent-Length: 0\r\n\r\n";
    p.last_sent = now;
    by_branch_[p.branch] = token;
    if (sender_.send(d->flow, req)) {
      counters_.stats.keepalives_sent.inc();
      ++sent;
    } else {
      counters_.drop(Drop::send_failed);
    }
  }
  return sent;
}

bool KeepAlive::on_response(const Flow& from, const Message& m, int64_t now) {
  const std::string branch = m.top_branch();
  if (branch.rfind(kKeepAliveBranch, 0) != 0) return false;
  auto it = by_branch_.find(branch);
  if (it == by_branch_.end() || from.side != Side::lan) {
    counters_.drop(Drop::stray_response);  // a late answer (after the next round) or a forged one
    return true;
  }
  if (m.status() < 200) return true;  // wait for the final answer
  Peer& p = peers_[it->second];
  by_branch_.erase(it);
  p.branch.clear();
  p.last_answer = now;
  p.last_status = m.status();
  p.misses = 0;
  counters_.stats.keepalives_answered.inc();
  return true;
}

nlohmann::json KeepAlive::state(const std::string& token, int64_t now) const {
  auto it = peers_.find(token);
  if (it == peers_.end()) return nullptr;
  const Peer& p = it->second;
  nlohmann::json j = {{"last_ping_s_ago", now - p.last_sent},
                      {"misses", p.misses},
                      {"reachable", p.misses < kMissesUnreachable}};
  j["last_answer_s_ago"] = p.last_answer ? nlohmann::json(now - p.last_answer) : nlohmann::json(nullptr);
  j["last_status"] = p.last_status;
  return j;
}

}  // namespace outpost::sip
