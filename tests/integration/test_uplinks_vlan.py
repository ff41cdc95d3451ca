"""The primary's own devices (issue 8, vpn/): with `uplinks.primary.vxlan` (or `.vlan`)
outpost creates the VXLAN (802.1Q VLAN) device itself through libnl, sets its MTU, puts the
primary's address on it, routes the vendor through it, recreates it when someone deletes it,
and removes it on stop. The lab's wanp plays the POP's end (Lab.add_primary_overlay).

This kernel has VXLAN but no 802.1Q (CONFIG_VLAN_8021Q is off): the VLAN test checks the
VLAN fully where the kernel has it, and elsewhere that the kernel's refusal is reported and
nothing else breaks.

    OUTPOST_BUILD=build-failover /usr/bin/python3 -m pytest -x -q tests/integration/test_uplinks_vlan.py
"""
import json
import os

import pytest

from helpers import Lab, build_dir, udp_exchange, wait_json

VNI = 100
VXLAN_IF = f"opvx{VNI}"
PRIMARY = {"interface": "wanp0", "address": "198.51.100.33/30", "gateway": "198.51.100.34", "mtu": 1400,
           "vxlan": {"vni": VNI, "remote": "198.51.100.2"}}
VLAN_ID = 120
VLAN_PRIMARY = {"interface": "wanp0", "vlan": VLAN_ID, "address": "198.51.100.41/30", "gateway": "198.51.100.42",
                "mtu": 1400, "vxlan": None}
PROBE = "203.0.113.7"


def config(lab, primary):
    """Only the uplinks: SIP, DNS and TLS bind to addresses this test moves around."""
    return lab.config(uplinks={"primary": primary}, sip={"enabled": False}, dns={"enabled": False},
                      tls={"enabled": False})


def link(lab, name):
    """`ip -d -j link show NAME` in outpost, or None if there is no such device."""
    r = lab.run("outpost", ["ip", "-d", "-j", "link", "show", name], check=False)
    return json.loads(r.stdout)[0] if r.returncode == 0 else None


def addresses(lab, name):
    out = json.loads(lab.run("outpost", ["ip", "-j", "addr", "show", name]).stdout)
    return [f"{a['local']}/{a['prefixlen']}" for a in out[0]["addr_info"] if a["family"] == "inet"]


def links(lab):
    return sorted(l["ifname"] for l in json.loads(lab.run("outpost", ["ip", "-j", "link", "show"]).stdout))


def vendor_answers(lab):
    return udp_exchange(lab, "outpost", PROBE, 7, b"outpost-overlay-test", timeout=2.0) == b"outpost-overlay-test"


@pytest.fixture(scope="module")
def lab():
    keep = os.environ.get("OUTPOST_LAB_KEEP", "") not in ("", "0")
    with Lab(build_dir=build_dir(), keep=keep, static_vendor_route=False) as lab:
        lab.binary("outpostd")
        lab.start_udp_echo("vendor", PROBE, 7, "probe-echo")
        lab.add_primary_overlay("vxlan", VNI, "198.51.100.34/30", "198.51.100.32/30")
        lab.links_before = links(lab)
        lab.start_outpostd(config(lab, PRIMARY))
        wait_json(lab, "show uplinks", {"active": "primary", "uplinks": [{"uplink": "primary", "state": "up"}]})
        yield lab


def test_outpost_creates_the_vxlan_device_with_mtu_and_address(lab):
    dev = link(lab, VXLAN_IF)
    assert dev is not None
    info = dev["linkinfo"]
    assert info["info_kind"] == "vxlan"
    assert info["info_data"]["id"] == VNI and info["info_data"]["remote"] == "198.51.100.2"
    assert info["info_data"]["port"] == 4789
    assert dev["mtu"] == 1400 and "UP" in dev["flags"]
    assert addresses(lab, VXLAN_IF) == ["198.51.100.33/30"]
    table = lab.run("outpost", ["ip", "route", "show", "table", "4242"]).stdout
    assert f"203.0.113.0/24 via 198.51.100.34 dev {VXLAN_IF} proto 242" in table
    assert vendor_answers(lab)  # through the overlay, and back to the address on it
    s = lab.ctl("show uplinks")
    assert s["primary_devices"] == [{"name": VXLAN_IF, "kind": "vxlan", "parent": "wanp0", "mtu": 1400,
                                     "owned": True, "vni": VNI, "remote": "198.51.100.2", "port": 4789}]
    assert s["counters"]["devices_created"] == 1


def test_a_device_deleted_by_hand_is_recreated(lab):
    before = lab.ctl("show uplinks")["counters"]["devices_created"]
    lab.run("outpost", ["ip", "link", "del", VXLAN_IF])
    s = wait_json(lab, "show uplinks", {"counters": {"devices_created": before + 1},
                                        "uplinks": [{"uplink": "primary", "state": "up", "link": "up"}]})
    assert s["primary_devices"][0]["owned"] is True
    assert link(lab, VXLAN_IF)["mtu"] == 1400
    assert addresses(lab, VXLAN_IF) == ["198.51.100.33/30"]
    assert vendor_answers(lab)


def kernel_vlan_support(lab):
    """(True, "") where the kernel creates 802.1Q devices; (False, reason) where it lacks
    them (no 8021q module: "Unknown device type"). Any other failure is the lab's and fails."""
    r = lab.run("wanp", ["ip", "link", "add", "link", "out0", "name", "out0.4000", "type", "vlan", "id", "4000"],
                check=False)
    if r.returncode == 0:
        lab.run("wanp", ["ip", "link", "del", "out0.4000"])
        return True, ""
    err = (r.stderr or "").strip()
    if "Unknown device type" in err or "not supported" in err.lower():
        return False, f"this kernel lacks 802.1Q (CONFIG_VLAN_8021Q / module 8021q): `ip link add type vlan`: {err}"
    pytest.fail(f"`ip link add ... type vlan` failed for another reason than missing 802.1Q support: {err}")


def test_a_vlan_primary_on_reload(lab):
    has_vlan, why = kernel_vlan_support(lab)
    if not has_vlan:
        pytest.skip(why + " (the refusal is checked by the next test; the VLAN netlink request by "
                    "tests/unit/vpn/netlink_device_test.cc)")
    vlan_if = f"wanp0.{VLAN_ID}"
    lab.add_primary_overlay("vlan", VLAN_ID, "198.51.100.42/30", "198.51.100.40/30")
    lab.write("outpost.yaml", config(lab, VLAN_PRIMARY))
    lab.ctl("config", "reload")
    try:
        assert link(lab, VXLAN_IF) is None  # outpost's VXLAN, no longer wanted, is gone
        wait_json(lab, "show uplinks", {"active": "primary", "uplinks": [{"uplink": "primary", "state": "up"}]})
        dev = link(lab, vlan_if)
        assert dev["linkinfo"]["info_kind"] == "vlan" and dev["linkinfo"]["info_data"]["id"] == VLAN_ID
        assert dev["mtu"] == 1400
        assert addresses(lab, vlan_if) == ["198.51.100.41/30"]
        assert vendor_answers(lab)
    finally:
        lab.write("outpost.yaml", config(lab, PRIMARY))
        lab.ctl("config", "reload")
    wait_json(lab, "show uplinks", {"active": "primary", "uplinks": [{"uplink": "primary", "state": "up"}],
                                    "primary_devices": [{"name": VXLAN_IF, "owned": True}]}, timeout=20)
    assert link(lab, vlan_if) is None
    assert vendor_answers(lab)


def test_a_vlan_the_kernel_refuses_is_reported(lab):
    has_vlan, _ = kernel_vlan_support(lab)
    if has_vlan:
        pytest.skip("this kernel has 802.1Q: the previous test creates the VLAN for real")
    vlan_if = f"wanp0.{VLAN_ID}"
    lab.write("outpost.yaml", config(lab, VLAN_PRIMARY))
    lab.ctl("config", "reload")
    try:
        assert link(lab, VXLAN_IF) is None  # outpost's VXLAN, no longer wanted, is gone
        s = wait_json(lab, "show uplinks", {"uplinks": [{"uplink": "primary", "state": "down"}],
                                            "primary_devices": [{"name": vlan_if, "kind": "vlan", "owned": False}]})
        assert "wanp0.120" in s["primary_devices"][0]["error"], s["primary_devices"]
        assert link(lab, vlan_if) is None
    finally:
        lab.write("outpost.yaml", config(lab, PRIMARY))
        lab.ctl("config", "reload")
    wait_json(lab, "show uplinks", {"active": "primary", "uplinks": [{"uplink": "primary", "state": "up"}],
                                    "primary_devices": [{"name": VXLAN_IF, "owned": True}]}, timeout=20)
    assert vendor_answers(lab)


def test_stop_removes_the_devices_outpost_created(lab):
    assert link(lab, VXLAN_IF) is not None
    lab.stop("outpostd")
    assert link(lab, VXLAN_IF) is None
    assert links(lab) == lab.links_before
