#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "vpn/link_provision.h"

using namespace outpost;
using namespace outpost::vpn;
using nlohmann::json;

namespace {
std::string read(const std::string& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
}  // namespace

TEST_CASE("provisioning requests are validated before anything is written", "[vpn][provision]") {
  json ok = {{"args", {"primary"}}, {"interface", "eth1"}, {"vlan", "120"}, {"address", "198.51.100.2/30"},
             {"gateway", "198.51.100.1"}, {"confirm_timeout", "30"}};
  auto r = parse_primary_request(ok);
  REQUIRE(r);
  CHECK(r->interface == "eth1");
  CHECK(r->vlan == 120u);
  CHECK(r->address.to_string() == "198.51.100.2/30");
  CHECK(r->confirm_timeout_s == 30);
  CHECK_FALSE(r->wait);
  auto bad = [&](const char* key, json value, const std::string& fragment) {
    json a = ok;
    if (value.is_null()) a.erase(key);
    else a[key] = value;
    auto res = parse_primary_request(a);
    INFO(key);
    REQUIRE_FALSE(res);
    CHECK(res.error().message.find(fragment) != std::string::npos);
  };
  bad("args", json::array({"backup"}), "usage: link provision primary");
  bad("interface", nullptr, "--interface");
  bad("vlan", "4095", "--vlan: expected a number 1-4094");
  bad("address", "198.51.100.2", "--address");
  bad("gateway", "198.51.100.9", "is not another address in 198.51.100.0/30");
  bad("gateway", "198.51.100.2", "is not another address");
  bad("confirm_timeout", "1", "--confirm-timeout");
  bad("mtu", "100", "--mtu");
}

TEST_CASE("the config gets the new primary; other sections stay", "[vpn][provision]") {
  PrimaryRequest r;
  r.interface = "eth1";
  r.vlan = 120;
  r.address = *parse_interface_address("198.51.100.2/30");
  r.gateway = *parse_address("198.51.100.1");
  auto out = with_primary(
      "lan: {interface: lan0, address: 10.20.0.1/24}\nuplinks:\n  table: 100\n  primary: {interface: old0, address: "
      "192.0.2.1/30, gateway: 192.0.2.2, vxlan: {vni: 7, remote: 192.0.2.9}}\nvendor: {profile: lab}\n",
      r);
  REQUIRE(out);
  CHECK(out->find("interface: eth1") != std::string::npos);
  CHECK(out->find("vlan: 120") != std::string::npos);
  CHECK(out->find("gateway: 198.51.100.1") != std::string::npos);
  CHECK(out->find("old0") == std::string::npos);
  CHECK(out->find("table: 100") != std::string::npos);
  CHECK(out->find("vni: 7") != std::string::npos);  // the overlay stays
  CHECK(out->find("profile: lab") != std::string::npos);
  CHECK_FALSE(with_primary("- a list\n", r));
}

TEST_CASE("the config file is replaced atomically, the previous kept and restorable", "[vpn][provision]") {
  auto dir = std::filesystem::temp_directory_path() / ("outpost-prov-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "outpost.yaml").string();
  std::ofstream(path) << "old\n";
  REQUIRE(write_config_atomically(path, "new\n"));
  CHECK(read(path) == "new\n");
  CHECK(read(path + ".prev") == "old\n");
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
  REQUIRE(restore_previous_config(path));
  CHECK(read(path) == "old\n");
  CHECK(read(path + ".prev") == "old\n");
  CHECK(read(path + ".failed") == "new\n");
  std::filesystem::remove_all(dir);
}
