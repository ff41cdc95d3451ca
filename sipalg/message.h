#pragma once
// parse: one SIP message held in a sofia-sip msg_t (parser and serialiser only; no NTA,
// no su_root). A Message owns its msg_t; everything allocated for it lives in its home.
// Validation is here so that every caller can rely on the mandatory headers.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/result.h"

extern "C" {
struct msg_s;
struct sip_s;
struct su_home_s;
struct msg_common_s;
}

namespace outpost::sip {

struct ParseError {
  std::string reason;      // for the log
  bool answerable = false;  // a request with enough headers to build a 400
  std::string bad_request;  // the 400 response text when answerable
};

class Message {
 public:
  // Parses one complete message (a datagram or one framed stream message). Fails on framing
  // errors, a missing request/status line or a missing/broken mandatory header
  // (Via, From, To, Call-ID, CSeq; CSeq method = request method).
  static std::variant<Message, ParseError> parse(std::string_view bytes);

  Message(Message&& other) noexcept;
  Message& operator=(Message&& other) noexcept;
  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;
  ~Message();

  struct sip_s* sip() const { return sip_; }
  struct msg_s* msg() const { return msg_; }
  struct su_home_s* home() const;

  bool is_request() const;
  std::string method() const;  // request method, or the CSeq method of a response
  int status() const;          // 0 for requests
  std::string call_id() const;
  std::string_view call_id_view() const;  // into the message: valid while it lives
  std::string top_branch() const;
  std::string request_uri() const;  // "" for responses
  std::string from_tag() const;
  std::string to_tag() const;
  std::string user_agent() const;
  uint32_t cseq() const;
  std::string from_value() const;  // whole header values, for ACK/CANCEL built by outpost
  std::string to_value() const;
  std::string to_uri() const;      // the AOR of a REGISTER
  std::string from_uri() const;
  // Expires of each Contact (its ;expires, else the Expires header, else `fallback`).
  std::vector<std::pair<std::string, unsigned>> contact_expiries(unsigned fallback) const;
  bool has_body() const;
  std::string_view body() const;

  // Serialises what was changed (untouched headers keep their bytes).
  std::string serialize() const;

  // Header helpers (text in sofia's value syntax, without the header name).
  std::vector<std::string> via_values() const;
  void remove_vias();
  bool push_via(const std::string& value);  // on top
  void remove_top_via();
  std::vector<std::string> header_values(const char* name) const;  // Route, Record-Route, Contact
  void remove_all(const char* name);
  bool add_header(const char* name, const std::string& value);  // prepends for list headers
  void set_request_uri(const std::string& uri);
  void set_call_id(std::string_view call_id);
  bool replace_body(const std::string& content_type, const std::string& body);
  // Max-Forwards: nullopt if absent.
  std::optional<unsigned long> max_forwards() const;
  void set_max_forwards(unsigned long value);

 private:
  Message(struct msg_s* m);
  // Sets the text serialize() sends for header `h` (name, value and CRLF), written by
  // outpost where sofia's encoder would print it back with snprintf: the first
  // `line_length` bytes of `text`, copied into the message's home (returned; the rest of
  // the copy is the caller's).
  const char* set_text(struct msg_common_s* h, std::string_view text, size_t line_length = std::string_view::npos);
  struct msg_s* msg_ = nullptr;
  struct sip_s* sip_ = nullptr;
};

// A response built by outpost itself (400, 100, 408, 483, ...), from a request's Via, From,
// To, Call-ID and CSeq. A To tag is added for final responses when the request had none.
std::string make_response(const Message& request, int status, std::string_view reason, std::string_view to_tag = {});

}  // namespace outpost::sip
