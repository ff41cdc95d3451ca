#include "vpn/link_provision.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <yaml-cpp/yaml.h>

namespace outpost::vpn {

namespace {

Error sys_error(const std::string& what) { return make_error(what + ": " + std::strerror(errno)); }

std::optional<std::string> text_arg(const nlohmann::json& args, const char* key) {
  if (!args.contains(key)) return std::nullopt;
  const auto& v = args[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_unsigned()) return std::to_string(v.get<unsigned>());
  return std::string();
}

Result<unsigned> number_arg(const std::string& text, const char* key, unsigned lo, unsigned hi) {
  try {
    size_t used = 0;
    unsigned long v = std::stoul(text, &used);
    if (used == text.size() && v >= lo && v <= hi) return unsigned(v);
  } catch (...) {
  }
  return make_error(std::string("--") + key + ": expected a number " + std::to_string(lo) + "-" + std::to_string(hi));
}

Result<void> fsync_dir(const std::string& path) {
  auto dir = std::filesystem::path(path).parent_path();
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return sys_error("open " + dir.string());
  int r = ::fsync(fd);
  ::close(fd);
  if (r != 0) return sys_error("fsync " + dir.string());
  return {};
}

}  // namespace

Result<PrimaryRequest> parse_primary_request(const nlohmann::json& args) {
  const auto pos = args.value("args", nlohmann::json::array());
  if (!pos.is_array() || pos.size() != 1 || pos[0] != "primary")
    return make_error("usage: link provision primary --interface IF [--vlan ID] --address A/P --gateway G "
                      "[--mtu N] [--confirm-timeout S] [--wait]");
  PrimaryRequest r;
  auto iface = text_arg(args, "interface");
  if (!iface || iface->empty() || iface->size() > 15 || iface->find('/') != std::string::npos)
    return make_error("--interface: an interface name of 1-15 characters is required");
  r.interface = *iface;
  if (auto v = text_arg(args, "vlan")) {
    auto n = number_arg(*v, "vlan", 1, 4094);
    if (!n) return n.error();
    r.vlan = *n;
    if (r.interface.size() + 1 + v->size() > 15) return make_error("--vlan: the VLAN device name would exceed 15 characters");
  }
  auto addr = text_arg(args, "address");
  auto parsed = addr ? parse_interface_address(*addr) : std::nullopt;
  if (!parsed || !parsed->address.is_v4()) return make_error("--address: an IPv4 interface address A/P is required");
  r.address = *parsed;
  auto gw = text_arg(args, "gateway");
  auto g = gw ? parse_address(*gw) : std::nullopt;
  if (!g || !g->is_v4()) return make_error("--gateway: an IPv4 address is required");
  if (!r.address.network().contains(*g) || *g == r.address.address)
    return make_error("--gateway: " + g->to_string() + " is not another address in " + r.address.network().to_string());
  r.gateway = *g;
  if (auto m = text_arg(args, "mtu")) {
    auto n = number_arg(*m, "mtu", 576, 9216);
    if (!n) return n.error();
    r.mtu = *n;
  }
  if (auto t = text_arg(args, "confirm_timeout")) {  // outpostctl turns --confirm-timeout into confirm_timeout
    auto n = number_arg(*t, "confirm-timeout", 5, 3600);
    if (!n) return n.error();
    r.confirm_timeout_s = *n;
  }
  r.wait = args.contains("wait");
  return r;
}

Result<std::string> with_primary(const std::string& config_text, const PrimaryRequest& r) {
  try {
    YAML::Node doc = YAML::Load(config_text);
    if (!doc.IsMap()) return make_error("the config file is not a YAML mapping");
    YAML::Node primary(YAML::NodeType::Map);
    primary["interface"] = r.interface;
    if (r.vlan) primary["vlan"] = *r.vlan;
    primary["address"] = r.address.to_string();
    primary["gateway"] = r.gateway.to_string();
    if (r.mtu) primary["mtu"] = *r.mtu;
    YAML::Node uplinks = doc["uplinks"];
    if (!uplinks || uplinks.IsNull()) uplinks = YAML::Node(YAML::NodeType::Map);
    if (!uplinks.IsMap()) return make_error("uplinks is not a mapping in the config file");
    // Keep the VXLAN overlay if the old primary had one: provisioning changes the link.
    if (uplinks["primary"] && uplinks["primary"].IsMap() && uplinks["primary"]["vxlan"])
      primary["vxlan"] = uplinks["primary"]["vxlan"];
    uplinks["primary"] = primary;
    doc["uplinks"] = uplinks;
    YAML::Emitter out;
    out << doc;
    return std::string("# written by outpostctl link provision primary; previous file: *.prev\n") + out.c_str() +
           "\n";
  } catch (const YAML::Exception& e) {
    return make_error(std::string("config file: ") + e.what());
  }
}

Result<void> write_config_atomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp", prev = path + ".prev";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return sys_error("open " + tmp);
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return sys_error("write " + tmp);
    }
    done += size_t(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    return sys_error("fsync " + tmp);
  }
  ::close(fd);
  ::unlink(prev.c_str());
  if (::link(path.c_str(), prev.c_str()) != 0 && errno != ENOENT) return sys_error("keep " + prev);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return sys_error("rename " + tmp);
  return fsync_dir(path);
}

Result<void> restore_previous_config(const std::string& path) {
  std::string prev = path + ".prev", back = path + ".rollback";
  // Keep PATH.prev (the good file) where it is: copy it via a temporary and rename.
  ::unlink(back.c_str());
  if (::link(prev.c_str(), back.c_str()) != 0) return sys_error("link " + prev);
  std::string failed = path + ".failed";
  ::unlink(failed.c_str());
  // The refused file, for the operator to inspect: best effort, restoring matters more.
  [[maybe_unused]] int kept = ::link(path.c_str(), failed.c_str());
  if (::rename(back.c_str(), path.c_str()) != 0) return sys_error("rename " + back);
  return fsync_dir(path);
}

}  // namespace outpost::vpn
