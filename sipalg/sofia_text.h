#pragma once
// Private to sipalg/: sofia-sip strings as std::string (sofia returns NULL for absent
// fields and allocates printed text in a su_home, which these free again).
#include <sofia-sip/msg.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su_alloc.h>
#include <sofia-sip/url.h>

#include <string>

namespace outpost::sip {

inline std::string str(const char* s) { return s ? std::string(s) : std::string(); }

inline std::string url_text(su_home_t* home, const url_t* u) {
  char* s = url_as_string(home, u);
  std::string out = str(s);
  su_free(home, s);
  return out;
}

inline std::string header_text(su_home_t* home, const sip_header_t* h) {
  char* s = sip_header_as_string(home, h);
  std::string out = str(s);
  su_free(home, s);
  return out;
}

// Message::serialize() sends a header's received text unless it is cleared. A comma list
// ("Contact: a, b") is one line held by its first member, the others hold empty text at the
// line's end, so an in-place edit of any member must clear every member of that line: else
// the old line (LAN addresses included) would still be sent, or, when only the first member
// is cleared, the others would be lost. Headers outpost adds or swaps in have no text yet.
inline void clear_received_text(msg_t* msg, msg_common_t* edited) {
  if (!edited->h_data) return;
  const char* end = static_cast<const char*>(edited->h_data) + edited->h_len;
  for (msg_header_t* h = *msg_chain_head(msg); h; h = h->sh_succ)
    if (h->sh_data && static_cast<const char*>(h->sh_data) + h->sh_len == end) msg_fragment_clear(h->sh_common);
  msg_fragment_clear(edited);
}

}  // namespace outpost::sip
