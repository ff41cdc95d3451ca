#pragma once
// The one door between SIP and the media layer: every SDP body, in both directions, goes
// through an SdpRewriter before it is forwarded. The media relay (its own issue) will
// rewrite c=/m= lines to its ports; until then PassThroughSdp leaves bodies as they are.
#include <optional>
#include <string>
#include <string_view>

#include "sipalg/flow.h"

namespace outpost::sip {

struct SdpContext {
  Side from = Side::lan;  // the side the body came from
  std::string call_id;
  std::string method;  // request method, or CSeq method of a response
  int status = 0;      // 0 in requests
};

class SdpRewriter {
 public:
  virtual ~SdpRewriter() = default;
  // The new body, or nullopt to forward it unchanged.
  virtual std::optional<std::string> rewrite(const SdpContext& context, std::string_view body) = 0;
  // A dialog ended: media for it can go.
  virtual void release(const std::string& call_id) = 0;
};

class PassThroughSdp final : public SdpRewriter {
 public:
  std::optional<std::string> rewrite(const SdpContext&, std::string_view) override {
    ++bodies_;
    return std::nullopt;
  }
  void release(const std::string&) override {}
  uint64_t bodies() const { return bodies_; }

 private:
  uint64_t bodies_ = 0;
};

}  // namespace outpost::sip
