#include "daemon/config_loader.h"

#include <algorithm>
#include <filesystem>

#include "generated/build_info.h"

namespace outpost::config {
namespace {

namespace fs = std::filesystem;

void read_rate_limit(YamlMap& parent, const std::string& key, RateLimit& out, ConfigErrors& errors,
                     const std::string& file, const std::string& path) {
  if (!parent.has(key)) {
    parent.node(key);
    return;
  }
  YamlMap m(parent.node(key), file, path + "." + key, errors);
  m.get("per_second", out.per_second, 0, 10'000'000);
  m.get("burst", out.burst, 0, 10'000'000);
  if (out.burst < out.per_second) out.burst = out.per_second;
}

void read_sip_servers(YamlMap& m, std::vector<SipServer>& out, ConfigErrors& errors, const std::string& file,
                      const std::string& path) {
  auto seq = m.node("sip_servers");
  if (!seq.IsDefined() || seq.IsNull()) return;
  if (!seq.IsSequence()) {
    m.error("sip_servers", "expected a list");
    return;
  }
  for (const auto& el : seq) {
    SipServer s;
    if (el.IsScalar()) {  // shorthand: "host[:port]"
      std::string text = el.Scalar();
      auto colon = text.rfind(':');
      if (colon != std::string::npos && text.find(':') == colon) {
        auto port = parse_port_range(text.substr(colon + 1));
        if (!port || port->first != port->last) {
          errors.add(file, el.Mark(), path + ".sip_servers: bad port in '" + text + "'");
          continue;
        }
        s.port = port->first;
        text = text.substr(0, colon);
      }
      if (!parse_address(text) && !valid_dns_name(text, false)) {
        errors.add(file, el.Mark(), path + ".sip_servers: not a host name or address: '" + text + "'");
        continue;
      }
      s.host = text;
    } else {
      YamlMap sm(el, file, path + ".sip_servers[]", errors);
      sm.require("host");
      std::string host;
      if (sm.get("host", host)) {
        if (!parse_address(host) && !valid_dns_name(host, false)) sm.error("host", "not a host name or address: '" + host + "'");
        s.host = host;
      }
      sm.get_port("port", s.port);
      sm.get_one_of("transport", s.transport, {"udp", "tcp", "tls", "wss", "auto"});
      if (sm.get("path", s.path) && (s.path.empty() || s.path[0] != '/'))
        sm.error("path", "a URL path starts with '/': '" + s.path + "'");
    }
    out.push_back(std::move(s));
  }
}

// The vendor fields shared by profile files and the config's `vendor:` section. Lists
// given here are added to what the profile had; scalars replace it.
void read_vendor_fields(YamlMap& m, Vendor& v, ConfigErrors& errors, const std::string& file,
                        const std::string& path, std::vector<Origin>& prefix_origins) {
  auto append = [](auto& into, auto from) { into.insert(into.end(), from.begin(), from.end()); };
  m.get("name", v.display_name);
  std::vector<std::string> names;
  if (m.get_dns_names("fqdns", names, true)) append(v.fqdns, names);
  std::vector<Prefix> prefixes;
  std::vector<Origin> origins;
  if (m.get_list("prefixes", prefixes, &origins)) {
    append(v.prefixes, prefixes);
    append(prefix_origins, origins);
  }
  if (m.has("ports")) {
    YamlMap pm(m.node("ports"), file, path + ".ports", errors);
    std::vector<PortRange> r;
    if (pm.get_list("sip", r)) append(v.ports.sip, r);
    if (pm.get_list("media", r)) append(v.ports.media, r);
    if (pm.get_list("https", r)) append(v.ports.https, r);
    if (pm.get_list("stun", r)) append(v.ports.stun, r);
  } else {
    m.node("ports");
  }
  std::vector<SipServer> servers;
  read_sip_servers(m, servers, errors, file, path);
  append(v.sip_servers, servers);
  std::vector<Endpoint> eps;
  if (m.get_list("resolvers", eps, 53)) append(v.resolvers, eps);
  if (m.get_list("probe_targets", eps, 7)) append(v.probe_targets, eps);
  m.get_dns_name("wss_fqdn", v.wss_fqdn, false);
  m.get_dns_name("default_host", v.default_host, false);
  Endpoint turn;
  if (m.get("turn", turn)) v.turn = turn;
  std::vector<PortRange> extra;
  if (m.get_list("sip_extra_ports", extra)) {
    for (const auto& r : extra)
      for (unsigned p = r.first; p <= r.last; ++p) v.sip_extra_ports.push_back(static_cast<uint16_t>(p));
  }
  m.get("registration_expiry", v.registration_expiry_s, 0, 86400);
  m.get("kbps_per_call", v.kbps_per_call, 1, 100000);
}

std::optional<std::string> find_profile(const std::string& name, const std::vector<std::string>& path) {
  for (const auto& dir : path) {
    fs::path p = fs::path(dir) / (name + ".yaml");
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) return p.string();
  }
  return std::nullopt;
}

void load_profile(const std::string& name, const std::vector<std::string>& search, YamlMap& vendor_map, Vendor& v,
                  ConfigErrors& errors, std::vector<Origin>& prefix_origins) {
  bool valid_name = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
  auto file = valid_name ? find_profile(name, search) : std::nullopt;
  if (!file) {
    std::string known;
    for (const auto& p : list_profiles(search)) known += (known.empty() ? "" : ", ") + p;
    vendor_map.error("profile", "unknown vendor profile '" + name + "' (available: " +
                                    (known.empty() ? "none found" : known) + ")");
    return;
  }
  auto doc = load_yaml_file(*file, errors);
  if (!doc) return;
  YamlMap pm(*doc, *file, "profile", errors);
  std::string description;
  pm.get("description", description);
  read_vendor_fields(pm, v, errors, *file, "profile", prefix_origins);
}

void read_lan(YamlMap& root, Config& c, ConfigErrors& errors, std::vector<Origin>& subnet_origins) {
  YamlMap m(root.node("lan"), c.file, "lan", errors);
  if (!m.valid()) {
    root.require("lan");
    return;
  }
  m.require("interface");
  m.require("address");
  m.get("interface", c.lan.interface);
  m.get("address", c.lan.address);
  InterfaceAddress a6;
  if (m.get("address6", a6)) {
    if (!a6.address.is_v6()) m.error("address6", "must be an IPv6 address");
    else c.lan.address6 = a6;
  }
  if (c.lan.address.address.is_v6()) m.error("address", "must be an IPv4 address (use address6 for IPv6)");
  if (!m.get_list("client_subnets", c.lan.client_subnets, &subnet_origins) && !m.has("client_subnets")) {
    c.lan.client_subnets = {c.lan.address.network()};
    subnet_origins = {m.origin("address")};
  }
}

void read_uplinks(YamlMap& root, Config& c, ConfigErrors& errors) {
  if (!root.has("uplinks")) {
    root.node("uplinks");
    return;
  }
  YamlMap m(root.node("uplinks"), c.file, "uplinks", errors);
  auto& u = c.uplinks;
  m.get("table", u.table, 1, 0xFFFFFFF0u);
  m.get("rule_priority", u.rule_priority, 1, 32765);
  m.get("confirm_timeout", u.confirm_timeout_s, 5, 3600);
  if (m.has("primary")) {
    YamlMap p(m.node("primary"), c.file, "uplinks.primary", errors);
    u.primary.configured = true;
    p.require("interface");
    p.require("address");
    p.require("gateway");
    p.get("interface", u.primary.interface);
    unsigned vlan = 0;
    if (p.get("vlan", vlan, 1, 4094)) u.primary.vlan = static_cast<uint16_t>(vlan);
    // outpost names the VLAN device IF.VLAN: the kernel's limit is 15 characters.
    p.get_one_of("probe", u.primary.probe, {"udp", "icmp", "auto"});
    std::string device = u.primary.interface + (u.primary.vlan ? "." + std::to_string(*u.primary.vlan) : "");
    if (device.size() > 15)
      p.error(u.primary.vlan ? "vlan" : "interface", "interface name '" + device + "' is longer than 15 characters");
    if (p.get("address", u.primary.address) && c.lan.address.length > 0 &&
        u.primary.address.network().overlaps(c.lan.address.network()))
      p.error("address", u.primary.address.to_string() + " overlaps the LAN " + c.lan.address.network().to_string());
    p.get("gateway", u.primary.gateway);
    p.get("mtu", u.primary.mtu, 576, 9216);
    if (p.has("vxlan")) {
      YamlMap x(p.node("vxlan"), c.file, "uplinks.primary.vxlan", errors);
      Vxlan vx;
      x.require("vni");
      x.require("remote");
      x.get("vni", vx.vni, 1, 16777215);
      x.get("remote", vx.remote);
      x.get_port("port", vx.port);
      vx.interface = "opvx" + std::to_string(vx.vni % 100000);
      x.get("interface", vx.interface);
      u.primary.vxlan = vx;
    } else {
      p.node("vxlan");
    }
    if (!u.primary.address.address.is_unspecified() && !u.primary.gateway.is_unspecified() &&
        !u.primary.address.network().contains(u.primary.gateway))
      p.error("gateway", u.primary.gateway.to_string() + " is not in " + u.primary.address.network().to_string());
  } else {
    m.node("primary");
  }
  if (m.has("backup")) {
    YamlMap b(m.node("backup"), c.file, "uplinks.backup", errors);
    auto& bk = u.backup;
    bk.configured = true;
    b.get_one_of("engine", bk.engine, {"wireguard"});
    b.get("interface", bk.interface);
    b.require("underlay_interface");
    b.get("underlay_interface", bk.underlay_interface);
    b.require("address");
    if (b.get("address", bk.address) && !bk.address.address.is_v4())
      b.error("address", "the tunnel's inner address must be IPv4");
    b.require("private_key_file");
    // Its content is checked when the tunnel starts (outpostd refuses to start with a bad key).
    b.get_existing_file("private_key_file", bk.private_key_file);
    b.get_port("listen_port", bk.listen_port);
    b.get("mtu", bk.mtu, 576, 9216);
    b.get_one_of("probe", bk.probe, {"udp", "icmp", "auto"});
    b.require("peer");
    if (b.has("peer")) {
      YamlMap pr(b.node("peer"), c.file, "uplinks.backup.peer", errors);
      pr.require("public_key");
      pr.require("endpoint");
      if (pr.get("public_key", bk.peer.public_key) && bk.peer.public_key.size() != 44)
        pr.error("public_key", "expected a 44-character base64 WireGuard key");
      pr.get("endpoint", bk.peer.endpoint);
      pr.get_list("allowed_ips", bk.peer.allowed_ips);
      pr.get("keepalive", bk.peer.keepalive_s, 0, 3600);
    }
    if (bk.interface.size() > 15) b.error("interface", "interface names are at most 15 characters");
    if (bk.underlay_interface.size() > 15)
      b.error("underlay_interface", "interface names are at most 15 characters");
    if (u.primary.configured && bk.interface == u.primary.interface)
      b.error("interface", "'" + bk.interface + "' is the primary uplink's interface");
  } else {
    m.node("backup");
  }
  if (m.has("probe")) {
    YamlMap p(m.node("probe"), c.file, "uplinks.probe", errors);
    p.get_list("targets", u.probe.targets, 7);
    p.get("interval_ms", u.probe.interval_ms, 10, 1000);
    p.get("timeout_ms", u.probe.timeout_ms, 10, 5000);
    p.get("loss_threshold", u.probe.loss_threshold, 1, 100);
    p.get("holddown", u.probe.holddown_s, 0, 3600);
    p.get_one_of("kind", u.probe.kind, {"udp", "icmp", "auto"});
  } else {
    m.node("probe");
  }
}

void read_dns(YamlMap& root, Config& c, ConfigErrors& errors) {
  if (!root.has("dns")) {
    root.node("dns");
    return;
  }
  YamlMap m(root.node("dns"), c.file, "dns", errors);
  auto& d = c.dns;
  m.get("enabled", d.enabled);
  m.get_list("listen", d.listen);
  m.get_port("port", d.port);
  m.get("ttl", d.ttl_s, 0, 86400);
  m.get_list("forwarders", d.forwarders, 53);
  m.get("dnssec", d.dnssec);
  m.get_existing_file("trust_anchor_file", d.trust_anchor_file);
  read_rate_limit(m, "rate_limit", d.rate_limit, errors, c.file, "dns");
  auto ov = m.node("overrides");
  if (ov.IsDefined() && !ov.IsNull()) {
    if (!ov.IsMap()) {
      m.error("overrides", "expected a mapping of name: address");
    } else {
      for (auto it = ov.begin(); it != ov.end(); ++it) {
        auto name = it->first.Scalar();
        if (!valid_dns_name(name, true)) {
          errors.add(c.file, it->first.Mark(), "dns.overrides: not a valid DNS name: '" + name + "'");
          continue;
        }
        auto addr = it->second.IsScalar() ? parse_address(it->second.Scalar()) : std::nullopt;
        if (!addr) {
          errors.add(c.file, it->second.Mark(), "dns.overrides." + name + ": not an IP address");
          continue;
        }
        d.overrides[name] = *addr;
      }
    }
  }
}

void read_sip(YamlMap& root, Config& c, ConfigErrors& errors) {
  // Ask the vendor for the interval its registrar works with (Genesys: 140 s) unless the
  // config says otherwise: asked for more, it would grant its own anyway.
  if (c.vendor.registration_expiry_s)
    c.sip.vendor_expiry_s = std::clamp(c.vendor.registration_expiry_s, 60u, 86400u);
  if (!root.has("sip")) {
    root.node("sip");
    return;
  }
  YamlMap m(root.node("sip"), c.file, "sip", errors);
  auto& s = c.sip;
  m.get("enabled", s.enabled);
  m.get_port("udp_port", s.udp_port);
  m.get_port("tcp_port", s.tcp_port);
  m.get("tls_port", s.tls_port, 0, 65535);
  m.get_existing_file("tls_certificate", s.tls_certificate);
  m.get_existing_file("tls_key", s.tls_key);
  if (s.tls_certificate.empty() != s.tls_key.empty() && (m.has("tls_certificate") != m.has("tls_key")))
    m.error_here("tls_certificate and tls_key go together");
  m.get("max_message_bytes", s.max_message_bytes, 1024, 1 << 20);
  read_rate_limit(m, "rate_limit", s.rate_limit, errors, c.file, "sip");
  m.get("device_expiry", s.device_expiry_s, 30, 3600);
  m.get("vendor_expiry", s.vendor_expiry_s, 60, 86400);
  m.get("keepalive", s.keepalive_s, 5, 600);
  m.get("cdr_dir", s.cdr_dir);
  m.get_existing_file("uplink_ca", s.uplink_ca);
  m.get("uplink_verify", s.uplink_verify);
  m.get("tls_handshake_timeout", s.tls_handshake_timeout_s, 1, 300);
  // Never below a registered device's refresh interval: its REGISTER is traffic at least
  // every device_expiry seconds, so a device that follows outpost's policy is never cut.
  if (!m.has("tcp_idle_timeout")) s.tcp_idle_timeout_s = std::max(s.tcp_idle_timeout_s, 2 * s.device_expiry_s);
  else if (m.get("tcp_idle_timeout", s.tcp_idle_timeout_s, 1, 86400) && s.tcp_idle_timeout_s <= s.device_expiry_s)
    m.error("tcp_idle_timeout", "must be larger than device_expiry (" + std::to_string(s.device_expiry_s) +
                                    " s): a registered device refreshes only that often");
  m.get("max_connections", s.max_connections, 1, 1'000'000);
  m.get("max_connections_per_source", s.max_connections_per_source, 1, 1'000'000);
}

void read_media(YamlMap& root, Config& c, ConfigErrors& errors) {
  if (!root.has("media")) {
    root.node("media");
    return;
  }
  YamlMap m(root.node("media"), c.file, "media", errors);
  m.get("lan_ports", c.media.lan_ports);
  m.get("uplink_ports", c.media.uplink_ports);
  m.get("timeout", c.media.timeout_s, 5, 3600);
  m.get("latch_packets", c.media.latch_packets, 1, 100);
  m.get("parked_streams", c.media.parked_streams, 0, 16384);
  m.get_one_of("engine", c.media.engine, {"epoll", "io_uring"});
  m.get("coalesce_us", c.media.coalesce_us, 0, 1000);
  if (c.media.lan_ports.size() < 4) m.error("lan_ports", "range too small: need at least 4 ports");
  if (c.media.uplink_ports.size() < 4) m.error("uplink_ports", "range too small: need at least 4 ports");
}

void read_tls(YamlMap& root, Config& c, ConfigErrors& errors) {
  if (!root.has("tls")) {
    root.node("tls");
    return;
  }
  YamlMap m(root.node("tls"), c.file, "tls", errors);
  auto& t = c.tls;
  m.get("enabled", t.enabled);
  m.get_port("https_port", t.https_port);
  m.get("http_port", t.http_port, 0, 65535);
  m.get_one_of("http_policy", t.http_policy, {"passthrough", "redirect"});
  m.get_existing_file("wss_certificate", t.wss_certificate);
  m.get_existing_file("wss_key", t.wss_key);
  m.get("max_connections", t.max_connections, 1, 1'000'000);
  m.get("per_client_rate", t.per_client_rate, 1, 100000);
  m.get("client_hello_timeout_ms", t.client_hello_timeout_ms, 100, 60000);
  m.get("connect_timeout_ms", t.connect_timeout_ms, 100, 60000);
  m.get("idle_timeout", t.idle_timeout_s, 1, 86400);
  m.get_one_of("relay", t.relay, {"auto", "copy", "splice"});
}

void read_dataplane(YamlMap& root, Config& c, ConfigErrors& errors) {
  if (!root.has("dataplane")) {
    root.node("dataplane");
    return;
  }
  YamlMap m(root.node("dataplane"), c.file, "dataplane", errors);
  m.get_one_of("engine", c.dataplane.engine, {"kernel", "dpdk"});
  m.get_list("eal_args", c.dataplane.eal_args);
  m.get("lcore", c.dataplane.lcore, 0, 1023);
  m.get_one_of("exception_path", c.dataplane.exception_path, {"tap", "virtio_user"});
}

void read_management(YamlMap& root, Config& c, ConfigErrors& errors) {
  if (!root.has("management")) {
    root.node("management");
    return;
  }
  YamlMap m(root.node("management"), c.file, "management", errors);
  auto& g = c.management;
  if (m.get("control_socket", g.control_socket) && g.control_socket.front() != '/')
    m.error("control_socket", "must be an absolute path");
  m.get("control_group", g.control_group);
  m.get("metrics_enabled", g.metrics_enabled);
  m.get("metrics", g.metrics);
  std::string level;
  if (m.get_one_of("log_level", level, {"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}))
    g.log_level = *parse_log_level(level);
  if (m.get("state_dir", g.state_dir) && g.state_dir.front() != '/') m.error("state_dir", "must be an absolute path");
  m.get("profile_dir", g.profile_dir);
}

// Checks that need more than one value: overlaps and clashes.
void cross_check(Config& c, ConfigErrors& errors, const std::vector<Origin>& subnet_origins,
                 const std::vector<Origin>& vendor_origins, const Origin& vendor_origin, const Origin& media_origin) {
  auto& subnets = c.lan.client_subnets;
  for (size_t i = 0; i < subnets.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (subnets[i].overlaps(subnets[j]))
        errors.add(subnet_origins[i].file, subnet_origins[i].mark,
                   "lan.client_subnets: " + subnets[i].to_string() + " overlaps " + subnets[j].to_string() +
                       " (at " + subnet_origins[j].where() + ")");
  auto& vp = c.vendor.prefixes;
  for (size_t i = 0; i < vp.size(); ++i) {
    const Origin& o = i < vendor_origins.size() ? vendor_origins[i] : vendor_origin;
    for (size_t j = 0; j < subnets.size(); ++j)
      if (vp[i].overlaps(subnets[j]))
        errors.add(o.file, o.mark,
                   "vendor prefix " + vp[i].to_string() + " overlaps LAN client subnet " + subnets[j].to_string() +
                       " (at " + subnet_origins[j].where() + ")");
    if (vp[i].overlaps(c.lan.address.network()) && c.lan.address.length > 0)
      errors.add(o.file, o.mark,
                 "vendor prefix " + vp[i].to_string() + " overlaps the LAN " + c.lan.address.network().to_string());
  }
  // Media ports share the LAN address with the SIP, DNS and web listeners.
  std::vector<std::pair<std::string, uint16_t>> listeners = {
      {"dns.port", c.dns.port}, {"sip.udp_port", c.sip.udp_port}, {"sip.tcp_port", c.sip.tcp_port},
      {"tls.https_port", c.tls.https_port}};
  if (c.sip.tls_port) listeners.push_back({"sip.tls_port", c.sip.tls_port});
  for (auto p : c.vendor.sip_extra_ports) listeners.push_back({"vendor.sip_extra_ports", p});
  for (const auto& [what, port] : listeners)
    if (c.media.lan_ports.contains(port))
      errors.add(media_origin.file, media_origin.mark,
                 "media.lan_ports " + c.media.lan_ports.to_string() + " overlaps " + what + " " + std::to_string(port));
  if (c.vendor.fqdns.empty())
    errors.add(vendor_origin.file, vendor_origin.mark,
               "vendor: no FQDN patterns: name a profile (vendor.profile) or list vendor.fqdns");
  if (c.dns.listen.empty()) c.dns.listen = {c.lan.address.address};
  if (c.uplinks.probe.targets.empty()) c.uplinks.probe.targets = c.vendor.probe_targets;
  if (c.sip.cdr_dir.empty()) c.sip.cdr_dir = c.management.state_dir + "/cdr";
}

LoadResult load_document(const YAML::Node& doc, const std::string& file, const LoadOptions& options) {
  LoadResult r;
  Config c;
  c.file = file;
  auto& errors = r.errors;
  YamlMap root(doc, file, "config", errors);
  if (!root.valid()) {
    if (!doc.IsDefined() || doc.IsNull()) errors.add(ConfigError{file, 0, 0, "the file is empty"});
    return r;
  }
  // management first: it says where the profiles are.
  read_management(root, c, errors);
  std::vector<Origin> subnet_origins, vendor_origins;
  read_lan(root, c, errors, subnet_origins);
  read_uplinks(root, c, errors);
  root.require("vendor");
  Origin vendor_origin = root.origin("vendor");
  if (root.has("vendor")) {
    YamlMap vm(root.node("vendor"), file, "vendor", errors);
    std::string profile;
    if (vm.get("profile", profile)) {
      c.vendor.profile = profile;
      load_profile(profile, profile_search_path(c.management.profile_dir, options), vm, c.vendor, errors,
                   vendor_origins);
    }
    read_vendor_fields(vm, c.vendor, errors, file, "vendor", vendor_origins);
  }
  read_dns(root, c, errors);
  read_sip(root, c, errors);
  read_media(root, c, errors);
  Origin media_origin = root.origin("media");
  if (auto lp = root.node("media"); lp.IsDefined() && lp.IsMap() && lp["lan_ports"]) media_origin.mark = lp["lan_ports"].Mark();
  read_tls(root, c, errors);
  read_dataplane(root, c, errors);
  root.finish();
  if (errors.empty()) cross_check(c, errors, subnet_origins, vendor_origins, vendor_origin, media_origin);
  if (errors.empty()) r.config = std::move(c);
  return r;
}

}  // namespace

std::vector<std::string> profile_search_path(const std::string& configured, const LoadOptions& options) {
  if (!options.profile_dir.empty()) return {options.profile_dir};
  if (!configured.empty()) return {configured};
  return {"/etc/outpost/profiles", build::kProfileDir};
}

std::vector<std::string> list_profiles(const std::vector<std::string>& search_path) {
  std::vector<std::string> out;
  for (const auto& dir : search_path) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.path().extension() == ".yaml") out.push_back(e.path().stem().string());
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

LoadResult load_config(const std::string& file, const LoadOptions& options) {
  LoadResult r;
  auto doc = load_yaml_file(file, r.errors);
  if (!doc) return r;
  return load_document(*doc, file, options);
}

LoadResult load_config_text(const std::string& text, const std::string& name, const LoadOptions& options) {
  LoadResult r;
  try {
    return load_document(YAML::Load(text), name, options);
  } catch (const YAML::Exception& e) {
    r.errors.add(name, e.mark, "YAML syntax error: " + e.msg);
    return r;
  }
}

namespace {
template <class T>
nlohmann::json strings(const std::vector<T>& v) {
  auto j = nlohmann::json::array();
  for (const auto& x : v) {
    if constexpr (std::is_same_v<T, std::string>) j.push_back(x);
    else if constexpr (std::is_same_v<T, IpAddress>) j.push_back(x.to_string());
    else j.push_back(x.to_string());
  }
  return j;
}
}  // namespace

nlohmann::json to_json(const Config& c) {
  using nlohmann::json;
  json sip_servers = json::array();
  for (const auto& s : c.vendor.sip_servers)
    sip_servers.push_back({{"host", s.host}, {"port", s.port}, {"transport", s.transport}, {"path", s.path}});
  json overrides = json::object();
  for (const auto& [n, a] : c.dns.overrides) overrides[n] = a.to_string();
  json j = {
      {"file", c.file},
      {"lan",
       {{"interface", c.lan.interface},
        {"address", c.lan.address.to_string()},
        {"address6", c.lan.address6 ? c.lan.address6->to_string() : ""},
        {"client_subnets", strings(c.lan.client_subnets)}}},
      {"uplinks",
       {{"table", c.uplinks.table},
        {"rule_priority", c.uplinks.rule_priority},
        {"primary",
         {{"configured", c.uplinks.primary.configured},
          {"interface", c.uplinks.primary.interface},
          {"vlan", c.uplinks.primary.vlan ? json(*c.uplinks.primary.vlan) : json(nullptr)},
          {"address", c.uplinks.primary.address.to_string()},
          {"gateway", c.uplinks.primary.gateway.to_string()},
          {"mtu", c.uplinks.primary.mtu}}},
        {"backup",
         {{"configured", c.uplinks.backup.configured},
          {"engine", c.uplinks.backup.engine},
          {"interface", c.uplinks.backup.interface},
          {"address", c.uplinks.backup.address.to_string()},
          {"peer", c.uplinks.backup.peer.endpoint.to_string()}}},
        {"probe",
         {{"targets", strings(c.uplinks.probe.targets)},
          {"interval_ms", c.uplinks.probe.interval_ms},
          {"loss_threshold", c.uplinks.probe.loss_threshold},
          {"holddown_s", c.uplinks.probe.holddown_s},
          {"kind", c.uplinks.probe.kind},
          {"primary_probe", c.uplinks.primary.probe.empty() ? c.uplinks.probe.kind : c.uplinks.primary.probe},
          {"backup_probe", c.uplinks.backup.probe.empty() ? c.uplinks.probe.kind : c.uplinks.backup.probe}}}}},
      {"vendor",
       {{"profile", c.vendor.profile},
        {"name", c.vendor.display_name},
        {"fqdns", c.vendor.fqdns},
        {"prefixes", strings(c.vendor.prefixes)},
        {"sip_servers", sip_servers},
        {"resolvers", strings(c.vendor.resolvers)},
        {"wss_fqdn", c.vendor.wss_fqdn},
        {"sip_extra_ports", c.vendor.sip_extra_ports}}},
      {"dns",
       {{"enabled", c.dns.enabled},
        {"listen", strings(c.dns.listen)},
        {"port", c.dns.port},
        {"ttl", c.dns.ttl_s},
        {"forwarders", strings(c.dns.forwarders)},
        {"overrides", overrides}}},
      {"sip",
       {{"enabled", c.sip.enabled},
        {"udp_port", c.sip.udp_port},
        {"tls_port", c.sip.tls_port},
        {"tls_handshake_timeout_s", c.sip.tls_handshake_timeout_s},
        {"tcp_idle_timeout_s", c.sip.tcp_idle_timeout_s},
        {"max_connections", c.sip.max_connections},
        {"max_connections_per_source", c.sip.max_connections_per_source}}},
      {"media",
       {{"lan_ports", c.media.lan_ports.to_string()},
        {"uplink_ports", c.media.uplink_ports.to_string()},
        {"timeout_s", c.media.timeout_s}}},
      {"tls", {{"enabled", c.tls.enabled}, {"https_port", c.tls.https_port}, {"http_policy", c.tls.http_policy}, {"relay", c.tls.relay}}},
      {"dataplane", {{"engine", c.dataplane.engine}}},
      {"management",
       {{"control_socket", c.management.control_socket},
        {"metrics", c.management.metrics_enabled ? c.management.metrics.to_string() : "disabled"},
        {"log_level", std::string(to_string(c.management.log_level))},
        {"state_dir", c.management.state_dir}}},
  };
  return j;
}

}  // namespace outpost::config
