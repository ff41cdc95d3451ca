#include "sipalg/message.h"

#include <sofia-sip/msg.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/msg_mclass.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_protos.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su_alloc.h>
#include <sofia-sip/url.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "sipalg/sofia_text.h"
#include "sipalg/token_text.h"

namespace outpost::sip {
namespace {

// The first header of kind `name` (list headers chain from it), or nullptr.
sip_header_t* first_of(sip_t* sip, const char* name) {
  if (!std::strcmp(name, "Route")) return reinterpret_cast<sip_header_t*>(sip->sip_route);
  if (!std::strcmp(name, "Record-Route")) return reinterpret_cast<sip_header_t*>(sip->sip_record_route);
  if (!std::strcmp(name, "Contact")) return reinterpret_cast<sip_header_t*>(sip->sip_contact);
  if (!std::strcmp(name, "Path")) return reinterpret_cast<sip_header_t*>(sip->sip_path);
  return nullptr;
}

msg_hclass_t* class_of(const char* name) {
  if (!std::strcmp(name, "Route")) return sip_route_class;
  if (!std::strcmp(name, "Record-Route")) return sip_record_route_class;
  if (!std::strcmp(name, "Contact")) return sip_contact_class;
  if (!std::strcmp(name, "Path")) return sip_path_class;
  return nullptr;
}

std::string check_mandatory(sip_t* sip) {
  if (!sip->sip_request && !sip->sip_status) return "no request or status line";
  if (!sip->sip_via) return "no valid Via";
  if (!sip->sip_via->v_host || !*sip->sip_via->v_host) return "Via without host";
  if (!sip->sip_from) return "no valid From";
  if (!sip->sip_to) return "no valid To";
  if (!sip->sip_call_id || !sip->sip_call_id->i_id || !*sip->sip_call_id->i_id) return "no valid Call-ID";
  if (!sip->sip_cseq) return "no valid CSeq";
  if (sip->sip_request) {
    const url_t* u = sip->sip_request->rq_url;
    if (!u || (u->url_type != url_sip && u->url_type != url_sips && u->url_type != url_tel))
      return "unsupported Request-URI";
    if (sip->sip_cseq->cs_method != sip->sip_request->rq_method ||
        (sip->sip_request->rq_method == sip_method_unknown &&
         std::strcmp(str(sip->sip_cseq->cs_method_name).c_str(), str(sip->sip_request->rq_method_name).c_str())))
      return "CSeq method differs from the request method";
    if (sip->sip_contact && sip->sip_contact->m_url->url_type == url_any && sip->sip_request->rq_method != sip_method_register)
      return "Contact * outside REGISTER";
  }
  // (er_name is not reliably set by this sofia-sip version: do not read it.)
  if (sip->sip_error) return "a header failed to parse";
  return {};
}

}  // namespace

Message::Message(msg_t* m) : msg_(m), sip_(sip_object(m)) {}
Message::Message(Message&& o) noexcept : msg_(o.msg_), sip_(o.sip_) { o.msg_ = nullptr, o.sip_ = nullptr; }
Message& Message::operator=(Message&& o) noexcept {
  if (this != &o) {
    if (msg_) msg_destroy(msg_);
    msg_ = o.msg_, sip_ = o.sip_;
    o.msg_ = nullptr, o.sip_ = nullptr;
  }
  return *this;
}
Message::~Message() {
  if (msg_) msg_destroy(msg_);
}
su_home_t* Message::home() const { return msg_home(msg_); }

const char* Message::set_text(msg_common_t* h, std::string_view text, size_t line_length) {
  clear_received_text(msg_, h);  // a comma-list member's line is re-encoded whole
  char* copy = static_cast<char*>(su_alloc(home(), text.size()));
  if (!copy) return nullptr;  // left cleared: encoded from its fields
  std::memcpy(copy, text.data(), text.size());
  h->h_data = copy;
  h->h_len = std::min(line_length, text.size());
  return copy;
}

namespace {
// Limits on single headers, before sofia sees the text: no real device needs more, and a
// long line or thousands of headers only cost parser time.
constexpr size_t kMaxHeaderLine = 8192;
constexpr size_t kMaxHeaders = 256;

// One pass over the head, one memchr per line: the limits above, and whether every line ends
// in CRLF with no bare CR in it (RFC 3261 7). The head ends at the first empty line after a
// header; the body is not looked at.
struct HeadScan {
  const char* error = nullptr;
  bool crlf_only = true;
};

HeadScan scan_head(std::string_view bytes) {
  HeadScan r;
  size_t lines = 0, pos = 0;
  while (pos < bytes.size()) {
    const char* start = bytes.data() + pos;
    const auto* lf = static_cast<const char*>(std::memchr(start, '\n', bytes.size() - pos));
    const size_t length = (lf ? static_cast<size_t>(lf - start) : bytes.size() - pos);  // without the LF
    const bool cr_ends = lf && length > 0 && start[length - 1] == '\r';
    const size_t text = length - (cr_ends ? 1 : 0);
    if (text == 0 && lf && lines > 0) break;  // the empty line
    if (length > kMaxHeaderLine) return {"header line too long", false};
    if (++lines > kMaxHeaders) return {"too many headers", false};
    if (r.crlf_only && ((lf && !cr_ends) || std::memchr(start, '\r', text))) r.crlf_only = false;
    if (!lf) break;
    pos = pos + length + 1;
  }
  return r;
}
}  // namespace

std::variant<Message, ParseError> Message::parse(std::string_view bytes) {
  if (bytes.empty()) return ParseError{"empty", false, {}};
  const HeadScan head = scan_head(bytes);
  if (head.error) return ParseError{head.error, false, {}};
  // sofia's parser takes a length; a NUL byte in a header is still refused below.
  // The parser keeps each header's received text (MSG_DO_EXTRACT_COPY), which serialize()
  // then sends for the headers outpost leaves alone; a message with a bare-LF line in its
  // head (or a bare CR) is parsed without it, so that every line it sends ends in CRLF
  // (RFC 3261 7).
  const bool crlf_only = head.crlf_only;
  msg_t* m = msg_make(sip_default_mclass(), crlf_only ? MSG_DO_EXTRACT_COPY : 0, bytes.data(),
                      static_cast<ssize_t>(bytes.size()));
  if (!m) return ParseError{"unparsable", false, {}};
  Message message(m);
  // (The empty line keeps its received text either way: it is written here.)
  if (!crlf_only && message.sip_ && message.sip_->sip_separator)
    message.set_text(message.sip_->sip_separator->sep_common, "\r\n");
  if (msg_has_error(m) || !message.sip_) return ParseError{"framing error", false, {}};
  // A datagram shorter than its Content-Length was cut: never relay half a body.
  if (const sip_content_length_t* cl = message.sip_->sip_content_length) {
    size_t have = message.sip_->sip_payload ? message.sip_->sip_payload->pl_len : 0;
    if (cl->l_length > have) return ParseError{"framing error", false, {}};
  }
  if (bytes.find('\0') != std::string_view::npos) return ParseError{"NUL byte", false, {}};
  std::string why = check_mandatory(message.sip_);
  if (why.empty()) return message;
  ParseError e{why, false, {}};
  sip_t* s = message.sip_;
  // Enough to answer: a request whose Via, From, To, Call-ID and CSeq parsed.
  if (s->sip_request && s->sip_via && s->sip_via->v_host && s->sip_from && s->sip_to && s->sip_call_id &&
      s->sip_cseq && s->sip_request->rq_method != sip_method_ack) {
    // Only answer with a 400 that is itself well formed (the headers it echoes may be odd).
    std::string reply = make_response(message, 400, "Bad Request");
    if (std::holds_alternative<Message>(parse(reply))) {
      e.answerable = true;
      e.bad_request = std::move(reply);
    }
  }
  return e;
}

bool Message::is_request() const { return sip_->sip_request != nullptr; }
std::string Message::method() const {
  if (sip_->sip_request) return str(sip_->sip_request->rq_method_name);
  return sip_->sip_cseq ? str(sip_->sip_cseq->cs_method_name) : std::string();
}
int Message::status() const { return sip_->sip_status ? sip_->sip_status->st_status : 0; }
std::string Message::call_id() const { return str(sip_->sip_call_id->i_id); }
std::string_view Message::call_id_view() const {
  const char* id = sip_->sip_call_id->i_id;
  return id ? std::string_view(id) : std::string_view();
}
std::string Message::top_branch() const { return sip_->sip_via ? str(sip_->sip_via->v_branch) : std::string(); }
std::string Message::request_uri() const {
  if (!sip_->sip_request) return {};
  return url_text(home(), sip_->sip_request->rq_url);
}
std::string Message::from_tag() const { return str(sip_->sip_from->a_tag); }
std::string Message::to_tag() const { return str(sip_->sip_to->a_tag); }
std::string Message::user_agent() const {
  return sip_->sip_user_agent ? str(sip_->sip_user_agent->g_string) : std::string();
}
uint32_t Message::cseq() const { return sip_->sip_cseq->cs_seq; }
namespace {
// A header's value as received ("From: <sip:a@b>;tag=1\r\n" -> "<sip:a@b>;tag=1") while it
// still holds its own unfolded line; else printed from its fields (sofia's printer is
// ~1 k instructions, and the proxy keeps From and To of every transaction).
std::string value_text(su_home_t* home, const sip_header_t* h) {
  const msg_common_t* c = h->sh_common;
  if (c->h_data && c->h_len) {
    std::string_view line(static_cast<const char*>(c->h_data), c->h_len);
    size_t colon = line.find(':');
    size_t begin = line.find_first_not_of(" \t", colon == std::string_view::npos ? line.size() : colon + 1);
    size_t end = line.find_last_not_of(" \t\r\n");
    if (begin != std::string_view::npos && end != std::string_view::npos && end >= begin) {
      std::string_view value = line.substr(begin, end - begin + 1);
      if (!contains_any(value, "\r\n")) return std::string(value);
    }
  }
  return header_text(home, h);
}
}  // namespace

std::string Message::from_value() const { return value_text(home(), reinterpret_cast<sip_header_t*>(sip_->sip_from)); }
std::string Message::to_value() const { return value_text(home(), reinterpret_cast<sip_header_t*>(sip_->sip_to)); }
std::string Message::to_uri() const {
  return url_text(home(), sip_->sip_to->a_url);
}
std::string Message::from_uri() const { return url_text(home(), sip_->sip_from->a_url); }
std::vector<std::pair<std::string, unsigned>> Message::contact_expiries(unsigned fallback) const {
  std::vector<std::pair<std::string, unsigned>> out;
  unsigned header = sip_->sip_expires ? static_cast<unsigned>(sip_->sip_expires->ex_delta) : fallback;
  for (sip_contact_t* c = sip_->sip_contact; c; c = c->m_next) {
    if (c->m_url->url_type == url_any) continue;
    unsigned e = c->m_expires ? static_cast<unsigned>(std::strtoul(c->m_expires, nullptr, 10)) : header;
    out.emplace_back(url_text(home(), c->m_url), e);
  }
  return out;
}
bool Message::has_body() const { return sip_->sip_payload && sip_->sip_payload->pl_len > 0; }
std::string_view Message::body() const {
  if (!has_body()) return {};
  return {sip_->sip_payload->pl_data, sip_->sip_payload->pl_len};
}

std::string Message::serialize() const {
  // Headers outpost did not touch go out as received (their text kept by the parser,
  // MSG_DO_EXTRACT_COPY); msg_prepare encodes only the changed and added ones. Re-encoding
  // every header with its printer (msg_as_string) cost ~15 % of a proxied message.
  if (msg_serialize(msg_, reinterpret_cast<msg_pub_t*>(sip_)) < 0 || msg_prepare(msg_) < 0) return {};
  msg_iovec_t stack[32];
  isize_t n = msg_iovec(msg_, stack, 32);
  std::vector<msg_iovec_t> heap;
  msg_iovec_t* vec = stack;
  if (n > 32) {
    heap.resize(static_cast<size_t>(n));
    n = msg_iovec(msg_, heap.data(), n);
    vec = heap.data();
  }
  if (n <= 0) return {};
  size_t total = 0;
  for (isize_t i = 0; i < n; ++i) total += vec[i].mv_len;
  std::string out;
  out.reserve(total);
  for (isize_t i = 0; i < n; ++i) out.append(static_cast<const char*>(vec[i].mv_base), vec[i].mv_len);
  return out;
}

std::vector<std::string> Message::via_values() const {
  std::vector<std::string> out;
  for (sip_via_t* v = sip_->sip_via; v; v = v->v_next)
    out.push_back(header_text(home(), reinterpret_cast<sip_header_t*>(v)));
  return out;
}

void Message::remove_vias() {
  while (sip_->sip_via) sip_header_remove(msg_, sip_, reinterpret_cast<sip_header_t*>(sip_->sip_via));
}

void Message::remove_top_via() {
  if (sip_->sip_via) sip_header_remove(msg_, sip_, reinterpret_cast<sip_header_t*>(sip_->sip_via));
}

bool Message::push_via(const std::string& value) {
  sip_via_t* v = sip_via_make(home(), value.c_str());
  if (!v) return false;
  return sip_header_insert(msg_, sip_, reinterpret_cast<sip_header_t*>(v)) == 0;
}

std::vector<std::string> Message::header_values(const char* name) const {
  std::vector<std::string> out;
  // Route, Record-Route, Contact and Path share the same list layout (next pointer first
  // after the common part), but walk them through their own types to stay honest.
  if (!std::strcmp(name, "Route") || !std::strcmp(name, "Record-Route") || !std::strcmp(name, "Path")) {
    for (auto* r = reinterpret_cast<sip_route_t*>(first_of(sip_, name)); r; r = r->r_next)
      out.push_back(header_text(home(), reinterpret_cast<sip_header_t*>(r)));
  } else if (!std::strcmp(name, "Contact")) {
    for (sip_contact_t* c = sip_->sip_contact; c; c = c->m_next)
      out.push_back(header_text(home(), reinterpret_cast<sip_header_t*>(c)));
  }
  return out;
}

void Message::remove_all(const char* name) {
  while (sip_header_t* h = first_of(sip_, name)) sip_header_remove(msg_, sip_, h);
}

bool Message::add_header(const char* name, const std::string& value) {
  msg_hclass_t* hc = class_of(name);
  if (!hc) return false;
  sip_header_t* h = sip_header_make(home(), hc, value.c_str());
  if (!h) return false;
  return sip_header_insert(msg_, sip_, h) == 0;
}

void Message::set_request_uri(const std::string& uri) {
  if (!sip_->sip_request) return;
  url_t* u = url_make(home(), uri.c_str());
  if (!u || contains_any(uri, " \t\r\n")) return;
  sip_request_t* rq = sip_->sip_request;
  *rq->rq_url = *u;
  // The new line's text, written here: sofia's encoder prints the URL back with snprintf.
  std::string line = str(rq->rq_method_name);
  line.append(" ").append(uri).append(" ").append(rq->rq_version ? rq->rq_version : "SIP/2.0").append("\r\n");
  set_text(rq->rq_common, line);
}

void Message::set_call_id(std::string_view call_id) {
  sip_call_id_t* current = sip_->sip_call_id;
  if (current && current->i_id && call_id == current->i_id) return;
  // In place when the new value is one token (outpost's own hidden Call-IDs and the ones it
  // translates back are): no parse of a new header, and its text written here.
  if (current && !call_id.empty() && !contains_any(call_id, " \t\r\n,;\"<>")) {
    // One allocation in the message's home (su_alloc is ~1 k instructions): the line, then
    // the value as a C string for the parsed field.
    std::string block = "Call-ID: ";
    block.append(call_id).append("\r\n").append(call_id).push_back('\0');
    if (const char* copy = set_text(current->i_common, block, block.size() - call_id.size() - 1)) {
      current->i_id = copy + block.size() - call_id.size() - 1;
      current->i_hash = static_cast<uint32_t>(msg_hash_string(current->i_id));
    }
    return;
  }
  auto* i = sip_call_id_make(home(), std::string(call_id).c_str());
  if (!i) return;
  if (sip_->sip_call_id) sip_header_remove(msg_, sip_, reinterpret_cast<sip_header_t*>(sip_->sip_call_id));
  sip_header_insert(msg_, sip_, reinterpret_cast<sip_header_t*>(i));
}

bool Message::replace_body(const std::string& content_type, const std::string& body) {
  if (sip_->sip_payload) sip_header_remove(msg_, sip_, reinterpret_cast<sip_header_t*>(sip_->sip_payload));
  if (sip_->sip_content_length)
    sip_header_remove(msg_, sip_, reinterpret_cast<sip_header_t*>(sip_->sip_content_length));
  if (!body.empty()) {
    auto* ct = sip_content_type_make(home(), content_type.c_str());
    if (sip_->sip_content_type) sip_header_remove(msg_, sip_, reinterpret_cast<sip_header_t*>(sip_->sip_content_type));
    if (ct) sip_header_insert(msg_, sip_, reinterpret_cast<sip_header_t*>(ct));
    auto* pl = sip_payload_make(home(), body.c_str());
    if (!pl || sip_header_insert(msg_, sip_, reinterpret_cast<sip_header_t*>(pl)) != 0) return false;
  }
  auto* cl = sip_content_length_create(home(), static_cast<uint32_t>(body.size()));
  return cl && sip_header_insert(msg_, sip_, reinterpret_cast<sip_header_t*>(cl)) == 0;
}

std::optional<unsigned long> Message::max_forwards() const {
  if (!sip_->sip_max_forwards) return std::nullopt;
  return sip_->sip_max_forwards->mf_count;
}

void Message::set_max_forwards(unsigned long value) {
  if (sip_->sip_max_forwards) {
    sip_->sip_max_forwards->mf_count = value;
    std::string line = "Max-Forwards: ";
    append_decimal(line, value);
    line += "\r\n";
    set_text(sip_->sip_max_forwards->mf_common, line);
    return;
  }
  auto* mf = sip_max_forwards_make(home(), std::to_string(value).c_str());
  if (mf) sip_header_insert(msg_, sip_, reinterpret_cast<sip_header_t*>(mf));
}

std::string make_response(const Message& request, int status, std::string_view reason, std::string_view to_tag) {
  sip_t* s = request.sip();
  su_home_t* home = request.home();
  std::string out = "SIP/2.0 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
  for (sip_via_t* v = s->sip_via; v; v = v->v_next)
    out += "Via: " + header_text(home, reinterpret_cast<sip_header_t*>(v)) + "\r\n";
  out += "From: " + header_text(home, reinterpret_cast<sip_header_t*>(s->sip_from)) + "\r\n";
  std::string to = header_text(home, reinterpret_cast<sip_header_t*>(s->sip_to));
  if (status >= 200 && !s->sip_to->a_tag && !to_tag.empty()) to += ";tag=" + std::string(to_tag);
  out += "To: " + to + "\r\n";
  out += "Call-ID: " + str(s->sip_call_id->i_id) + "\r\n";
  out += "CSeq: " + std::to_string(s->sip_cseq->cs_seq) + " " + str(s->sip_cseq->cs_method_name) + "\r\n";
  out += "Server: outpost\r\nContent-Length: 0\r\n\r\n";
  return out;
}

}  // namespace outpost::sip
