#include "sipalg/sdp_rewrite.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "sipalg/sdp_text.h"

namespace outpost::sip {

namespace {

using sdp::Line;

constexpr size_t kMaxBody = 64 * 1024;
constexpr size_t kMaxStreams = 64;
// ICE host candidate priorities (RFC 8445 5.1.2.1: type preference 126, local preference
// 65535, component 1 and 2): what a host-only agent announces.
constexpr const char* kRtpPriority = "2130706431";
constexpr const char* kRtcpPriority = "2130706430";

enum class Fail { malformed, oversize, no_address, relay };
struct Failure {
  Fail why;
  std::string detail;
};

// One m= section as read.
struct Stream {
  size_t m_line = 0, end = 0;  // its lines: [m_line, end)
  size_t c_goes_after = 0;     // where a media-level c= is inserted: after m= (and i=)
  uint16_t port = 0;
  std::string_view port_text;  // the port inside the m= line, without "/count"
  std::optional<size_t> c_line;
  std::optional<IpAddress> c_address;
  std::optional<uint16_t> rtcp_port;
  std::optional<IpAddress> rtcp_address;
  bool rtcp_mux = false, has_direction = false, inactive = false, ice = false, component2 = false;
  std::vector<size_t> candidates;
  std::optional<Endpoint> candidate_rtp;  // first component-1 UDP candidate with an IP address
  std::string_view mid;
  std::vector<media::StreamOffer::ClockRate> clock_rates;  // from a=rtpmap
};

struct Body {
  std::vector<Line> lines;
  std::optional<size_t> o_line, c_line;
  std::optional<IpAddress> c_address;
  bool inactive = false, ice = false;
  std::vector<std::vector<std::string_view>> bundles;  // mids of each a=group:BUNDLE
  std::vector<Stream> streams;
};

// What outpost announces for one stream on the side the body goes to.
struct Plan {
  uint16_t rtp = 0, rtcp = 0;
  bool keep_unspecified = false;  // c=0.0.0.0 hold without ICE: stays 0.0.0.0
};

void read_attribute(Body& b, Stream* s, const Line& line, size_t i, std::optional<Failure>& fail) {
  using sdp::attribute;
  if (auto v = attribute(line, "group")) {
    auto f = sdp::fields(*v);
    if (!f.empty() && f[0] == "BUNDLE") b.bundles.emplace_back(f.begin() + 1, f.end());
    return;
  }
  if (attribute(line, "ice-ufrag")) {
    (s ? s->ice : b.ice) = true;
    return;
  }
  bool inactive = attribute(line, "inactive").has_value();
  if (inactive || attribute(line, "sendonly") || attribute(line, "recvonly") || attribute(line, "sendrecv")) {
    if (!s) {
      b.inactive = inactive;
      return;
    }
    s->has_direction = true;
    s->inactive = inactive;
    return;
  }
  if (!s) return;
  if (auto v = attribute(line, "rtcp")) {
    auto f = sdp::fields(*v);
    auto port = f.empty() ? std::nullopt : sdp::parse_number(f[0], 65535);
    if (!port || (f.size() != 1 && f.size() != 4)) return void(fail = Failure{Fail::malformed, "bad a=rtcp"});
    s->rtcp_port = static_cast<uint16_t>(*port);
    if (f.size() == 4) {
      s->rtcp_address = sdp::parse_connection(v->substr(static_cast<size_t>(f[1].data() - v->data())));
      if (!s->rtcp_address) fail = Failure{Fail::malformed, "bad a=rtcp address"};
    }
  } else if (attribute(line, "rtcp-mux")) {
    s->rtcp_mux = true;
  } else if (auto v = attribute(line, "rtpmap")) {
    // Read for the relay's quality figures only; an unreadable one is left alone.
    if (auto map = sdp::parse_rtpmap(*v)) s->clock_rates.push_back({map->payload_type, map->clock_rate});
  } else if (auto v = attribute(line, "mid")) {
    s->mid = *v;
  } else if (auto v = attribute(line, "candidate")) {
    // foundation component transport priority address port typ type ...
    s->ice = true;
    s->candidates.push_back(i);
    auto f = sdp::fields(*v);
    if (f.size() < 2) return;
    if (f[1] == "2") s->component2 = true;
    if (f[1] != "1" || s->candidate_rtp || f.size() < 6 || (f[2] != "udp" && f[2] != "UDP")) return;
    auto address = parse_address(f[4]);  // mDNS ".local" names are not addresses: skipped
    auto port = sdp::parse_number(f[5], 65535);
    if (address && port && *port) s->candidate_rtp = Endpoint{*address, static_cast<uint16_t>(*port)};
  }
}

std::optional<Failure> parse(std::string_view text, Body& b) {
  if (text.size() > kMaxBody) return Failure{Fail::oversize, "body of " + std::to_string(text.size()) + " bytes"};
  if (text.find('\0') != std::string_view::npos) return Failure{Fail::malformed, "NUL in body"};
  b.lines = sdp::split_lines(text);
  if (b.lines.empty() || b.lines[0].text != "v=0") return Failure{Fail::malformed, "no v=0 first"};
  std::optional<Failure> fail;
  for (size_t i = 1; i < b.lines.size() && !fail; ++i) {
    const Line& line = b.lines[i];
    if (line.text.empty()) continue;
    Stream* s = b.streams.empty() ? nullptr : &b.streams.back();
    switch (line.type()) {
      case '\0':
        return Failure{Fail::malformed, "line " + std::to_string(i + 1) + " is not type=value"};
      case 'm': {
        if (b.streams.size() == kMaxStreams) return Failure{Fail::oversize, "too many m= lines"};
        auto f = sdp::fields(line.value());
        if (f.size() < 4) return Failure{Fail::malformed, "m= line with fewer than 4 fields"};
        Stream n;
        n.m_line = n.c_goes_after = i;
        n.port_text = f[1].substr(0, f[1].find('/'));
        auto port = sdp::parse_number(n.port_text, 65535);
        if (!port) return Failure{Fail::malformed, "m= line with a bad port"};
        n.port = static_cast<uint16_t>(*port);
        if (s) s->end = i;
        b.streams.push_back(n);
        break;
      }
      case 'c': {
        auto address = sdp::parse_connection(line.value());
        if (!address) return Failure{Fail::malformed, "bad c= line"};
        if (s ? s->c_line.has_value() : b.c_line.has_value()) return Failure{Fail::malformed, "two c= lines"};
        (s ? s->c_line : b.c_line) = i;
        (s ? s->c_address : b.c_address) = address;
        break;
      }
      case 'o':
        if (s || b.o_line || sdp::fields(line.value()).size() != 6) return Failure{Fail::malformed, "bad o= line"};
        b.o_line = i;
        break;
      case 'i':
        if (s && s->c_goes_after == i - 1) s->c_goes_after = i;
        break;
      case 'a':
        read_attribute(b, s, line, i, fail);
        break;
      default:
        break;
    }
  }
  if (fail) return fail;
  if (!b.streams.empty()) b.streams.back().end = b.lines.size();
  if (!b.o_line) return Failure{Fail::malformed, "no o= line"};
  for (size_t i = 0; i < b.streams.size(); ++i)
    if (b.streams[i].port && !b.streams[i].c_address && !b.c_address)
      return Failure{Fail::malformed, "m= line " + std::to_string(i) + " has no c= address"};
  return std::nullopt;
}

// Where that side receives, as the relay should expect it (StreamOffer::rtp/rtcp).
media::StreamOffer make_offer(const Body& b, const Stream& s, unsigned index, const SdpContext& context) {
  media::StreamOffer o;
  o.call_id = context.call_id;
  o.index = index;
  o.from = context.from == Side::lan ? media::LegSide::lan : media::LegSide::uplink;
  o.rtcp_mux = s.rtcp_mux;
  o.clock_rates = s.clock_rates;
  const IpAddress& c = s.c_address ? *s.c_address : *b.c_address;
  bool inactive = s.has_direction ? s.inactive : b.inactive;
  if (inactive) return o;
  if (!c.is_unspecified())
    o.rtp = Endpoint{c, s.port};
  else if (s.ice || b.ice)
    o.rtp = s.candidate_rtp;  // WebRTC without a default address: its first real candidate
  if (!o.rtp) return o;
  if (s.rtcp_mux) {
    o.rtcp = o.rtp;
  } else if (s.rtcp_port) {
    IpAddress a = s.rtcp_address && !s.rtcp_address->is_unspecified() ? *s.rtcp_address : o.rtp->address;
    o.rtcp = Endpoint{a, *s.rtcp_port};
  } else if (o.rtp->port < 65535) {
    o.rtcp = Endpoint{o.rtp->address, static_cast<uint16_t>(o.rtp->port + 1)};
  }
  return o;
}

// The BUNDLE group a stream's mid belongs to, or -1.
int bundle_of(const Body& b, const Stream& s) {
  if (s.mid.empty()) return -1;
  for (size_t g = 0; g < b.bundles.size(); ++g)
    if (std::find(b.bundles[g].begin(), b.bundles[g].end(), s.mid) != b.bundles[g].end()) return static_cast<int>(g);
  return -1;
}

class Writer {
 public:
  Writer(std::string_view eol, size_t size) : eol_(eol) { out_.reserve(size + 512); }
  void keep(const Line& l) { put(l.text, l.eol); }
  void put(std::string_view text, std::string_view line_eol) {
    out_ += text;
    out_ += line_eol;
    open_ = line_eol.empty();
  }
  // A line outpost adds: in the body's line ending style.
  void add(std::string_view text) {
    if (open_) out_ += eol_;
    put(text, eol_);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string_view eol_;
  std::string out_;
  bool open_ = false;
};

std::string replace(std::string_view text, std::string_view part, std::string_view with) {
  size_t at = static_cast<size_t>(part.data() - text.data());
  return std::string(text.substr(0, at)).append(with).append(text.substr(at + part.size()));
}

std::string write(const Body& b, const std::vector<std::optional<Plan>>& plans, const IpAddress& our) {
  const std::string connection = "c=" + sdp::connection_value(our);
  const std::string hold_connection = "c=" + sdp::connection_value(sdp::unspecified_like(our));
  // The session c= names outpost unless it was 0.0.0.0 and every stream it covers still is.
  bool session_unspecified = b.c_address && b.c_address->is_unspecified();
  for (size_t i = 0; i < b.streams.size(); ++i)
    if (plans[i] && !b.streams[i].c_line && !plans[i]->keep_unspecified) session_unspecified = false;

  std::string_view eol = b.lines[0].eol.empty() ? std::string_view("\r\n") : b.lines[0].eol;
  Writer w(eol, b.lines.size() * 4);
  size_t next = 0;  // the stream whose section is next
  const Stream* s = nullptr;
  const Plan* plan = nullptr;
  for (size_t i = 0; i < b.lines.size(); ++i) {
    const Line& line = b.lines[i];
    if (next < b.streams.size() && b.streams[next].m_line == i) {
      s = &b.streams[next];
      plan = plans[next] ? &*plans[next] : nullptr;
      ++next;
    }
    switch (line.type()) {
      case 'o': {
        auto f = sdp::fields(line.value());
        std::string_view tail(f[4].data(), static_cast<size_t>(line.text.data() + line.text.size() - f[4].data()));
        w.put(replace(line.text, tail, sdp::connection_value(our).substr(3)), line.eol);
        break;
      }
      case 'c': {
        bool unspecified = s ? (s->c_address->is_unspecified() && (!plan || plan->keep_unspecified))
                             : session_unspecified;
        if (unspecified) w.keep(line);
        else w.put(connection, line.eol);
        break;
      }
      case 'm':
        if (plan) w.put(replace(line.text, s->port_text, std::to_string(plan->rtp)), line.eol);
        else w.keep(line);
        break;
      case 'a': {
        auto rtcp = plan ? sdp::attribute(line, "rtcp") : std::nullopt;
        if (rtcp) {
          std::string text = "a=rtcp:" + std::to_string(plan->rtcp);
          if (s->rtcp_address)
            text += s->rtcp_address->is_unspecified() && plan->keep_unspecified
                        ? rtcp->substr(rtcp->find(' '))
                        : " " + sdp::connection_value(our);
          w.put(text, line.eol);
        } else if (plan && sdp::attribute(line, "candidate")) {
          // All of the stream's candidates become outpost's host candidates, where the first was.
          if (i != s->candidates.front()) break;
          std::string base = "a=candidate:1 ";
          std::string tail = " udp ";
          w.put(base + "1" + tail + kRtpPriority + " " + our.to_string() + " " + std::to_string(plan->rtp) + " typ host",
                line.eol);
          if (s->component2 && !s->rtcp_mux)
            w.add(base + "2" + tail + kRtcpPriority + " " + our.to_string() + " " + std::to_string(plan->rtcp) +
                  " typ host");
        } else if (plan && sdp::attribute(line, "remote-candidates")) {
          // They name the other side's addresses, which its peer never sees now.
        } else {
          w.keep(line);
        }
        break;
      }
      default:
        w.keep(line);
    }
    // A stream covered by the session c= that needs another address gets its own c=.
    if (s && plan && !s->c_line && s->c_goes_after == i && plan->keep_unspecified != session_unspecified)
      w.add(plan->keep_unspecified ? hold_connection : connection);
  }
  return w.take();
}

}  // namespace

RelaySdp::RelaySdp(std::shared_ptr<media::MediaRelay> relay, IpAddress lan, IpAddress uplink, MetricsRegistry& metrics)
    : relay_(std::move(relay)), lan_(std::move(lan)), uplink_(std::move(uplink)), stats_(SdpStats::make(metrics)) {}

std::optional<std::string> RelaySdp::rewrite(const SdpContext& context, std::string_view text) {
  auto failed = [&](Failure f) -> std::optional<std::string> {
    switch (f.why) {
      case Fail::malformed: stats_.unchanged_malformed.inc(); break;
      case Fail::oversize: stats_.unchanged_oversize.inc(); break;
      case Fail::no_address: stats_.unchanged_no_address.inc(); break;
      case Fail::relay: stats_.unchanged_relay_error.inc(); break;
    }
    last_error_ = std::move(f.detail);
    return std::nullopt;
  };
  Body b;
  if (auto f = parse(text, b)) return failed(std::move(*f));
  const IpAddress& our = context.from == Side::lan ? uplink_ : lan_;  // the side the body goes to
  if (our.is_unspecified()) return failed({Fail::no_address, std::string("no ") + to_string(other(context.from)) + " address"});

  std::vector<std::optional<Plan>> plans(b.streams.size());
  std::vector<std::optional<size_t>> bundle_owner(b.bundles.size());
  for (size_t i = 0; i < b.streams.size(); ++i) {
    const Stream& s = b.streams[i];
    if (s.port == 0) continue;  // rejected (or bundle-only): no media, left as it is
    const IpAddress& c = s.c_address ? *s.c_address : *b.c_address;
    bool keep_unspecified = c.is_unspecified() && !s.ice && !b.ice;
    // BUNDLE: the m= lines sharing the first bundled one's port share its relay ports too;
    // only that one is offered (one 5-tuple carries them all).
    int g = bundle_of(b, s);
    if (g >= 0 && bundle_owner[g] && b.streams[*bundle_owner[g]].port == s.port) {
      plans[i] = Plan{plans[*bundle_owner[g]]->rtp, plans[*bundle_owner[g]]->rtcp, keep_unspecified};
      continue;
    }
    media::StreamOffer offer = make_offer(b, s, static_cast<unsigned>(i), context);
    // The m= lines bundled onto this one's 5-tuple send their payload types here too.
    if (g >= 0)
      for (size_t j = i + 1; j < b.streams.size(); ++j)
        if (b.streams[j].port == s.port && bundle_of(b, b.streams[j]) == g)
          offer.clock_rates.insert(offer.clock_rates.end(), b.streams[j].clock_rates.begin(),
                                   b.streams[j].clock_rates.end());
    auto ports = relay_->offer(offer);
    if (!ports) return failed({Fail::relay, "stream " + std::to_string(i) + ": " + ports.error().message});
    bool to_lan = context.from == Side::uplink;
    Plan p;
    p.rtp = (to_lan ? ports->lan_rtp : ports->uplink_rtp).port;
    p.rtcp = s.rtcp_mux ? p.rtp : (to_lan ? ports->lan_rtcp : ports->uplink_rtcp).port;
    p.keep_unspecified = keep_unspecified;
    plans[i] = p;
    if (g >= 0 && !bundle_owner[g]) bundle_owner[g] = i;
  }
  stats_.rewritten.inc();
  return write(b, plans, our);
}

void RelaySdp::release(const std::string& call_id) { relay_->release(call_id); }

}  // namespace outpost::sip
