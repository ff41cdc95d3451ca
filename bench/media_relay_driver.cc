// bench/media.sh's driver for outpost's media relay: the real relay (make_media_relay) on its
// own io_context, with CALLS streams opened through offer() as the SIP proxy would, without SIP.
// Built by media.sh with g++ against the build's static libraries; not part of the product.
//
// usage: media_relay_driver LAN_IP UPLINK_IP A_IP B_IP BASE_PORT CALLS STREAMFILE
//   stream i: phone A_IP:BASE_PORT+2i on the LAN, vendor B_IP:BASE_PORT+2i on the uplink.
//   STREAMFILE gets rtpgen's lines: a_ip a_port b_ip b_port relay_for_a_ip port relay_for_b_ip port
//   Prints "ready" on stderr once the streams are open; on SIGTERM/SIGINT prints
//   "MEDIA packets_to_vendor=.. packets_to_lan=.. dropped=.." on stdout and exits.
//   Env OUTPOST_MEDIA_ENGINE=epoll|io_uring and OUTPOST_MEDIA_COALESCE_US override media.engine and
//   media.coalesce_us (default: the config's defaults, as outpostd).
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "common/control.h"
#include "common/log.h"
#include "common/metrics.h"
#include "daemon/config_model.h"
#include "dataplane/media.h"

using namespace outpost;

int main(int argc, char** argv) {
  if (argc != 8) {
    std::cerr << "usage: media_relay_driver LAN_IP UPLINK_IP A_IP B_IP BASE_PORT CALLS STREAMFILE\n";
    return 2;
  }
  const auto lan = parse_address(argv[1]), uplink = parse_address(argv[2]);
  const auto a = parse_address(argv[3]), b = parse_address(argv[4]);
  const unsigned base = unsigned(std::stoul(argv[5])), calls = unsigned(std::stoul(argv[6]));
  if (!lan || !uplink || !a || !b) return 2;

  config::Config c;
  c.lan.address = {*lan, 8};
  c.lan.client_subnets = {Prefix{*a, 32}};
  c.uplinks.primary.configured = true;
  c.uplinks.primary.address = {*uplink, 8};
  c.vendor.prefixes = {Prefix{*b, 32}};
  c.media.timeout_s = 3600;

  boost::asio::io_context io;
  StderrLogSink log;
  log.set_threshold(LogLevel::warning);
  MetricsRegistry metrics;
  ControlRegistry control;
  ComponentContext context{io, log, metrics, control};
  // The config's defaults, as outpostd with no media keys; the environment overrides them.
  if (const char* engine = std::getenv("OUTPOST_MEDIA_ENGINE")) c.media.engine = engine;
  if (const char* coalesce = std::getenv("OUTPOST_MEDIA_COALESCE_US")) c.media.coalesce_us = unsigned(std::atoi(coalesce));
  auto relay = media::make_media_relay(context, c);
  if (auto r = relay->start(); !r) {
    std::cerr << r.error().message << "\n";
    return 1;
  }
  std::ofstream out(argv[7]);
  for (unsigned i = 0; i < calls; ++i) {
    const std::string call_id = "bench-" + std::to_string(i);
    const uint16_t port = uint16_t(base + 2 * i);
    auto ports = relay->offer({call_id, 0, media::LegSide::lan, Endpoint{*a, port}, std::nullopt, false});
    if (!ports || !relay->offer({call_id, 0, media::LegSide::uplink, Endpoint{*b, port}, std::nullopt, false})) {
      std::cerr << "offer failed for call " << i << (ports ? "" : ": " + ports.error().message) << "\n";
      return 1;
    }
    out << a->to_string() << " " << port << " " << b->to_string() << " " << port << " "
        << ports->lan_rtp.address.to_string() << " " << ports->lan_rtp.port << " "
        << ports->uplink_rtp.address.to_string() << " " << ports->uplink_rtp.port << "\n";
  }
  out.close();

  boost::asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](boost::system::error_code, int) {
    auto v = [&](const char* name, const Labels& l = {}) { return uint64_t(metrics.value(name, l).value_or(0)); };
    uint64_t dropped = 0;
    for (const char* reason : {"no_peer", "source_not_allowed", "send_failed", "truncated"})
      dropped += v("outpost_media_dropped_total", {{"reason", reason}});
    std::printf("MEDIA engine=%s packets_to_vendor=%llu packets_to_lan=%llu dropped=%llu latched=%llu\n",
                relay->status().value("engine", "?").c_str(),
                (unsigned long long)v("outpost_media_packets_to_vendor_total"),
                (unsigned long long)v("outpost_media_packets_to_lan_total"), (unsigned long long)dropped,
                (unsigned long long)v("outpost_media_latched_total"));
    std::fflush(stdout);
    relay->stop();
    io.stop();
  });
  std::cerr << "ready\n";
  io.run();
  return 0;
}
