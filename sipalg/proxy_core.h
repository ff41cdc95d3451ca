#pragma once
// decide + act: outpost's stateful SIP proxy (its own RFC 3261 transaction layer on
// Boost.Asio; see README.md for why not sofia's NTA). One message walks:
//   on_message: trust the source -> parse -> classify (request/response, retransmission,
//   CANCEL, ACK) -> choose the other side's target -> rewrite (rewrite.h) -> send -> count.
// Transactions are keyed by outpost's own branch (responses) and by the incoming branch
// (retransmissions, CANCEL, ACK for non-2xx). Single-threaded, on the daemon's io_context.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "common/net.h"
#include "sipalg/bindings.h"
#include "sipalg/call_ids.h"
#include "sipalg/dialogs.h"
#include "sipalg/flow.h"
#include "sipalg/keepalive.h"
#include "sipalg/message.h"
#include "sipalg/rate_limit.h"
#include "sipalg/sdp.h"
#include "sipalg/server_locator.h"
#include "sipalg/stats.h"
#include "sipalg/transport.h"

namespace outpost::sip {

struct CoreSettings {
  Identity me;
  std::vector<Prefix> client_subnets;   // LAN sources we accept
  std::vector<Prefix> vendor_prefixes;  // uplink sources we accept, and where in-dialog requests may go
  std::chrono::milliseconds server_timeout{2000};  // no answer at all from a vendor server: next one
  std::chrono::milliseconds t1{500};
  std::chrono::milliseconds t2{4000};
  unsigned rate_per_second = 0;  // per LAN source; 0 = off
  unsigned rate_burst = 0;
  // NAT keep-alive policy (README.md): devices get at most device_expiry_s; the vendor is
  // asked for at least vendor_expiry_s; a device refresh is answered from the binding while
  // the vendor's has more than 2 * device_expiry_s left. 0 = off (relay as it is).
  unsigned device_expiry_s = 0;
  unsigned vendor_expiry_s = 0;
};

class ProxyCore {
 public:
  using Clock = std::chrono::steady_clock;

  ProxyCore(boost::asio::io_context& io, Logger log, SipCounters& counters, Sender& sender, ServerLocator& locator,
            Bindings& bindings, SdpRewriter& sdp, CoreSettings settings);
  ~ProxyCore();

  void on_message(const Flow& from, std::string_view bytes);
  // A connection outpost opened to `to` could not be established (Transports::on_unreachable):
  // the transactions sent there time out now, so they fail over to the next server at once.
  void on_unreachable(const Flow& to);
  void set_settings(CoreSettings s) {
    settings_ = std::move(s);
    limiter_.configure(settings_.rate_per_second, settings_.rate_burst);
  }
  // Called when the registration table changed (the component persists it).
  std::function<void()> on_bindings_changed;
  // NAT keep-alive pings (keepalive.h): their answers are handed to it, not to transactions.
  void set_keepalive(KeepAlive* k) { keepalive_ = k; }

  size_t transactions() const { return by_out_.size(); }
  // Housekeeping: forgets idle Call-ID mappings and ended or idle dialogs.
  void expire(int64_t now) {
    call_ids_.expire(now);
    dialogs_.expire(now);
  }
  Dialogs& dialogs() { return dialogs_; }
  const Dialogs& dialogs() const { return dialogs_; }
  nlohmann::json status() const;

  struct Transaction;

 private:
  void handle_request(const Flow& from, Message& m);
  void handle_response(const Flow& from, Message& m);
  void reply(const Flow& to, const Message& request, int status, const char* reason, const std::string& extra = {});
  // Registration throttling: a device's refresh answered from its binding.
  bool answer_register_locally(const Flow& from, const Message& m);
  bool trusted(const Flow& from) const;
  bool is_vendor(const IpAddress& a) const;

  // Choosing the next hop on the uplink: a Route/Request-URI target inside the vendor
  // prefixes, or (for new requests) the vendor servers from the locator.
  struct Target {
    bool ok = false;
    Flow flow;
    bool via_locator = false;
    Drop why = Drop::no_route;
  };
  Target uplink_target(const Message& m, bool in_dialog);
  Target lan_target(Message& m);

  void forward_stateless(const Flow& from, Message& m, const Flow& to);
  void start_transaction(const Flow& from, Message& m, const Target& to);
  void send_out(const std::shared_ptr<Transaction>& t);
  void arm_timers(const std::shared_ptr<Transaction>& t);
  void on_retransmit_timer(const std::shared_ptr<Transaction>& t);
  void on_timeout(const std::shared_ptr<Transaction>& t);
  bool try_next_server(const std::shared_ptr<Transaction>& t);
  void finish(const std::shared_ptr<Transaction>& t, std::chrono::milliseconds linger);
  void arm_linger(Clock::time_point at);
  void forget_lingering();  // drops the transactions whose linger is over
  void send_cancel(const std::shared_ptr<Transaction>& t);
  void send_ack(const std::shared_ptr<Transaction>& t, const Message& response);
  void rewrite_sdp(Message& m, Side from);
  void hide_call_id(Message& m, Side from);
  // The dialog a message belongs to: vendor-side Call-ID and the vendor party's tag ("" if none).
  std::string dialog_token(const Message& m, Side from);
  // Vendor -> device: the vendor's Record-Route entries and the far party's Contact are kept
  // in the dialog and replaced by outpost's LAN entry and an od<token> contact.
  void hide_vendor_hops(Message& m, const Flow& vendor, const Flow& device, bool creating, Transaction* t);
  // Device -> vendor: a request to an od<token> contact gets the dialog's target and route set.
  bool map_dialog_request(const Flow& from, Message& m);
  // answered: the dialog a 2xx to a dialog-creating request confirmed (other forks are dropped).
  void track_dialog(const std::shared_ptr<Transaction>& t, int status, const std::string& answered);
  void map_device_contacts(Message& m, const Flow& device, std::vector<std::string>* tokens);
  // Device -> vendor: LAN IP literals in From/To/P-Asserted-Identity/... become the uplink address.
  int hide_lan_identities(Message& m, const Flow& device);
  void update_registrations(const std::shared_ptr<Transaction>& t, Message& response);
  std::string new_branch();
  int64_t wall_now() const;

  boost::asio::io_context& io_;
  Logger log_;
  RateLimitedLog noisy_;
  SipCounters& counters_;
  Sender& sender_;
  ServerLocator& locator_;
  Bindings& bindings_;
  CallIds call_ids_;
  Dialogs dialogs_;
  SourceRateLimit limiter_;
  SdpRewriter& sdp_;
  KeepAlive* keepalive_ = nullptr;
  CoreSettings settings_;
  std::unordered_map<std::string, std::shared_ptr<Transaction>> by_out_;  // our branch
  std::unordered_map<std::string, std::shared_ptr<Transaction>> by_in_;   // incoming branch|method|source
  std::string uplink_host_;  // settings_.me.uplink as a URI host, for hide_lan_identities
  IpAddress uplink_host_of_;
  // Finished transactions stay (absorbing retransmissions) until `due`: a min-heap under one timer.
  struct Lingering {
    Clock::time_point due;
    std::weak_ptr<Transaction> transaction;
    bool operator>(const Lingering& o) const { return due > o.due; }
  };
  static constexpr std::chrono::milliseconds kLingerSlack{20};
  std::priority_queue<Lingering, std::vector<Lingering>, std::greater<Lingering>> lingering_;
  boost::asio::steady_timer linger_timer_;
  bool linger_armed_ = false;
  Clock::time_point linger_due_{};
  uint64_t branch_counter_ = 0;
  uint64_t branch_salt_ = 0;
};

}  // namespace outpost::sip
