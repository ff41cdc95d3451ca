#pragma once
// Private to sipalg/: sofia-sip strings as std::string (sofia returns NULL for absent
// fields and allocates printed text in a su_home, which these free again).
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

}  // namespace outpost::sip
