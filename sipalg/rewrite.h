#pragma once
// decide -> act, the header rules of topology hiding, as pure functions on a Message:
//  - Via: a request leaves with outpost's Via only; the ones it came with are kept in the
//    transaction and put back, as text, on the responses (take_vias / with_vias).
//  - Route: outpost's own entries (either side's address) are popped on arrival.
//  - Record-Route: one entry per side, each side sees only its own: the request carries the
//    entry of the side it goes to, and responses have it swapped for the other side's
//    (the same routing as a double Record-Route, without leaking one side's address to the other).
//  - Contact: device contacts become outpost contacts on the uplink side (ContactMap tokens).
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sipalg/flow.h"
#include "sipalg/message.h"

namespace outpost::sip {

// Our branches start with this, so a request that comes back to us is recognised (482).
inline constexpr const char* kBranchPrefix = "z9hG4bK-op";

std::string via_value(Transport t, const std::string& host_port, const std::string& branch);

// Removes every Via and returns them, top first. The top one gets received= (when the
// source differs from its sent-by) and rport=, as RFC 3261 18.2.1 / RFC 3581 ask.
std::vector<std::string> take_vias(Message& m, const Flow& from);
// A serialised message with Via lines put in after its first line, in order (outpost's own
// on a request it sends, the kept ones on a response): text, not parsed back into the
// message, so the Vias cost no parse and no re-encoding. One allocation.
std::string with_vias(std::string_view serialized, std::span<const std::string> vias);

// True when a Via carries one of outpost's own addresses with an outpost branch.
bool has_own_via(const Message& m, const Identity& me);

// Is this URI (sip:host[:port]...) outpost itself, on either side?
bool is_own_uri(const std::string& uri, const Identity& me);
// The same for a request's Request-URI, read from the parsed URL (no text round trip).
bool is_own_request_uri(const Message& m, const Identity& me);

// Pops outpost's own entries off the top of the Route set; returns how many.
int pop_own_routes(Message& m, const Identity& me);

// local_port: the extra LAN port the device uses (0: the main one for the transport).
std::string record_route_value(Side side, Transport t, const Identity& me, uint16_t local_port = 0);
void add_record_route(Message& m, Side side, Transport t, const Identity& me, uint16_t local_port = 0);
// In a response: outpost's Record-Route entry for side `from` becomes the one for `to`.
int swap_record_route(Message& m, Side from, Side to, Transport to_transport, const Identity& me,
                      uint16_t to_local_port = 0);

// Record-Route entries that are not outpost's own, top first (header value text).
std::vector<std::string> foreign_record_routes(const Message& m, const Identity& me);
// Replaces every header `name` (Route, Record-Route) with `values`, in that order.
void set_list(Message& m, const char* name, const std::vector<std::string>& values);
// The first Contact URI ("" if none or "*").
std::string first_contact_uri(const Message& m);
// Replaces every Contact with <uri>, keeping nothing of the old ones.
void set_contact(Message& m, const std::string& uri);

// Each Contact's expiry (its ;expires, else the Expires header, else `fallback`) becomes
// f(expiry), written as ;expires=; a Contact with expiry 0 is left alone. Returns how many.
int set_contact_expires(Message& m, unsigned fallback, const std::function<unsigned(unsigned)>& f);

// Every Contact URI passes through `map` (returning nullopt keeps it).
int map_contacts(Message& m, const std::function<std::optional<std::string>(const std::string&)>& map);

// Parts of a SIP URI, from sofia's URL parser.
struct UriParts {
  std::string user, host, transport;
  uint16_t port = 0;
  bool valid = false;
};
UriParts uri_parts(const std::string& uri);
// The same read from the URL sofia has parsed already: the proxy asks several times per
// message, and printing the URL to text and parsing it again cost ~3 k instructions.
UriParts request_uri_parts(const Message& m);
// The URI the request goes to next: the top Route if any, else the Request-URI.
UriParts next_hop_parts(const Message& m);

}  // namespace outpost::sip

namespace outpost::sip {

// Topology hiding of identity headers: devices often put their own IP in From/To
// (sip:200@10.20.0.10) and in P-Asserted-Identity and the like. Every IP literal in `text`
// (IPv4 dotted quads, bracketed IPv6) for which is_lan() holds becomes `replacement`; the
// rest (users, tags, parameters, display names otherwise) is left as it is. Returns the text.
std::string replace_lan_literals(std::string_view text, const std::function<bool(const IpAddress&)>& is_lan,
                                 const std::string& replacement, int* replaced = nullptr);

// The headers this applies to, device -> vendor (names as sofia knows them, case-insensitive).
inline constexpr std::string_view kIdentityHeaders[] = {
    "From", "To", "P-Asserted-Identity", "P-Preferred-Identity", "Remote-Party-ID", "Diversion",
    "History-Info", "Referred-By", "Reply-To", "Call-Info", "P-Called-Party-ID", "Alert-Info"};

// Applies replace_lan_literals to every identity header of `m`. Returns how many headers changed.
int hide_lan_hosts(Message& m, const std::function<bool(const IpAddress&)>& is_lan, const std::string& replacement);

// Sets From (or To) to `value` (header value text); a To tag in the message is kept when
// `value` has none. Used to give a device its own From/To back in responses.
void set_from(Message& m, const std::string& value);
void set_to_keep_tag(Message& m, const std::string& value);

}  // namespace outpost::sip
