#pragma once
// Dialog state for topology hiding in the direction of the devices: per dialog, the
// vendor side's route set (its proxies' Record-Route entries) and remote target (the far
// UA's Contact). Devices see neither: their Record-Route has outpost's LAN entry only and
// the far party's Contact is sip:od<token>@<outpost LAN address>. A device's in-dialog
// request to that URI is mapped back here (Request-URI = remote target, Route = route set).
// The same table answers `show calls` and produces one call record per ended INVITE dialog.
#include <cstdint>
#include <functional>
#include <unordered_map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dataplane/media.h"
#include "sipalg/flow.h"

namespace outpost::sip {

struct UriParts;  // rewrite.h

struct Dialog {
  enum class State { early, confirmed, ended };
  std::string token;             // the od<token> user part devices see in the far party's Contact
  std::string method;            // INVITE, SUBSCRIBE or REFER
  std::string call_id;           // as the vendor sees it
  Side caller = Side::lan;       // the side the dialog-creating request came from
  std::string from, to;          // the parties (From / To URIs of the creating request, vendor side)
  std::string remote_target;     // the vendor-side party's Contact URI
  std::vector<std::string> route_set;  // vendor side, in the order to send as Route
  Transport lan_transport = Transport::udp;
  Flow device;                   // the device's flow
  Endpoint vendor;               // the vendor hop it came from / went to
  State state = State::early;
  int status = 0;                // final status of the creating request (0: none yet)
  int64_t start = 0, answer = 0, end = 0, last_used = 0;  // unix seconds
  bool bye_sent = false;
  // A device caller whose From named LAN hosts: its From as it wrote it (without tag). The
  // vendor's in-dialog requests get it back as To, so the device sees its own identity.
  std::string device_identity;
};

const char* to_string(Dialog::State s);

class Dialogs {
 public:
  // The token of a dialog: FNV-1a 64 of the vendor-side Call-ID and the vendor party's tag
  // (stable, so every fork of a call gets its own).
  static std::string token(const std::string& call_id, const std::string& vendor_tag);
  // The token in sip:od<token>@<LAN address>, if `uri` is one.
  static std::optional<std::string> token_of(const std::string& uri, const Identity& me);
  static std::optional<std::string> token_of(const UriParts& uri, const Identity& me);
  static std::string contact_uri(const std::string& token, Transport lan_transport, const Identity& me,
                                 uint16_t local_port = 0);

  Dialog* find(const std::string& token);
  const Dialog* find(const std::string& token) const;
  Dialog& upsert(const std::string& token);
  void remove(const std::string& token) { dialogs_.erase(token); }
  // The dialog ended (BYE answered, or its INVITE failed): `on_ended` gets it once.
  void ended(Dialog& d, int64_t now);
  // Forgets ended dialogs after `linger` seconds and any dialog idle for `idle` seconds.
  void expire(int64_t now, int64_t linger = 32, int64_t idle = 12 * 3600);
  size_t size() const { return dialogs_.size(); }
  nlohmann::json to_json(int64_t now) const;  // `show calls`

  std::function<void(const Dialog&)> on_ended;

 private:
  std::unordered_map<std::string, Dialog> dialogs_;
};

// Call records: one CSV line per ended call under sip.cdr_dir (RFC 4180 quoting; times in
// UTC, ISO 8601). `media` is what the relay measured of the call (media::MediaRelay::
// call_totals); with no stream (no media through outpost) the quality columns stay empty.
std::string call_record_csv_header();
std::string call_record_csv(const Dialog& d, const media::CallMediaTotals& media);
nlohmann::json call_record(const Dialog& d);  // the same fields as JSON (tests, `show calls`)

}  // namespace outpost::sip
