"""Uplinks and failover (issue 8, vpn/): outpost routes the vendor's prefixes itself (no
static route in the lab), over the primary private link (wanp) or the WireGuard backup over
the customer's internet (inet, wireguard-go at both ends), probes both, fails over on carrier
loss and on silent loss (nftables netdev ingress drop: this kernel has no netem), fails back
after the hold-down, does not flap at 20 % loss, and owns only its table and rule priority.

Assertions are on state, counters, routes and delivered packets, never on timings.

    OUTPOST_BUILD=build-vpn /usr/bin/python3 -m pytest -x -q tests/integration/test_uplinks.py
"""
import os
import re
import time

import pytest

from helpers import Lab, build_dir, metric, udp_exchange, wait_json

HOLDDOWN_S = 3
TABLE = 4242
VENDOR_PREFIX = "203.0.113.0/24"
PROBE = "203.0.113.7"


def rules(lab):
    return sorted(lab.run("outpost", ["ip", "-4", "rule", "show"]).stdout.splitlines())


def routes_all(lab):
    return sorted(lab.run("outpost", ["ip", "-4", "route", "show", "table", "all"]).stdout.splitlines())


@pytest.fixture(scope="module")
def uplab():
    keep = os.environ.get("OUTPOST_LAB_KEEP", "") not in ("", "0")
    with Lab(build_dir=build_dir(), keep=keep, static_vendor_route=False) as lab:
        lab.binary("outpostd")
        lab.start_vendor()
        backup = lab.start_backup_tunnel()
        lab.before = {"rules": rules(lab), "routes": routes_all(lab)}
        lab.wg = backup["interface"]
        lab.start_outpostd(lab.config(uplinks={"backup": backup, "probe": {"holddown": HOLDDOWN_S}}))
        wait_json(lab, "show uplinks", {"active": "primary", "uplinks": [{"uplink": "primary", "state": "up"},
                                                                         {"uplink": "backup", "state": "up"}]})
        yield lab


@pytest.fixture
def lab(uplab):
    """Every test starts on a healthy primary, with no loss injected, preference auto."""
    yield uplab
    for role in ("outpost", "wanp"):
        uplab.run(role, "nft delete table netdev oploss", check=False)
    uplab.run("wanp", "ip link set out0 up")
    uplab.run("outpost", "ip link set wanp0 up")
    uplab.ctl("uplink", "prefer", "auto", check=False)
    if "outpostd" in uplab.peers and uplab.peer("outpostd").alive():
        wait_json(uplab, "show uplinks", {"active": "primary"}, timeout=HOLDDOWN_S + 15)


def route_dev(lab, dst=PROBE):
    out = lab.run("outpost", ["ip", "route", "get", dst]).stdout
    return re.search(r"\bdev (\S+)", out).group(1)


def counters(lab):
    return lab.ctl("show", "uplinks")["counters"]


def drop_ingress(lab, role, dev, rule=None):
    """Silent loss: an nftables netdev ingress filter on `dev` (all packets, or `rule`)."""
    chain = f'{{ type filter hook ingress device "{dev}" priority 0; policy {"accept" if rule else "drop"}; }}'
    lab.run(role, ["nft", "add", "table", "netdev", "oploss"])
    lab.run(role, ["nft", "add", "chain", "netdev", "oploss", "in", chain])
    if rule:
        lab.run(role, ["nft", "add", "rule", "netdev", "oploss", "in", *rule.split()])


def vendor_answers(lab):
    return udp_exchange(lab, "outpost", PROBE, 7, b"outpost-uplink-test", timeout=2.0) == b"outpost-uplink-test"


def test_vendor_prefixes_go_through_outposts_table_and_rule(lab):
    assert route_dev(lab) == "wanp0"
    assert vendor_answers(lab)
    added_rules = sorted(set(rules(lab)) - set(lab.before["rules"]))
    assert added_rules == [f"{TABLE}:\tfrom all to {VENDOR_PREFIX} lookup {TABLE}"]
    assert set(lab.before["rules"]) <= set(rules(lab))
    added = sorted(set(routes_all(lab)) - set(lab.before["routes"]))
    # outpost's table, and what the kernel derives from the tunnel address outpost set.
    ours = [r for r in added if f"table {TABLE}" in r]
    derived = [r for r in added if f"dev {lab.wg}" in r and f"table {TABLE}" not in r]
    assert sorted(ours + derived) == added, added
    assert len(ours) == 3  # active, primary standby, backup standby
    assert all("proto 242" in r for r in ours)
    assert set(lab.before["routes"]) <= set(routes_all(lab))
    m = lab.metrics()
    assert metric(m, "outpost_uplink_active", uplink="primary") == 1
    assert metric(m, "outpost_uplink_up", uplink="backup") == 1
    assert metric(m, "outpost_uplink_probes_received_total", uplink="backup") > 0


def test_diag_uplinks_grades_both_paths(lab):
    wait_json(lab, "diag uplinks", {"verdict": "PASS", "uplinks": [
        {"uplink": "primary", "latency": "PASS", "jitter": "PASS", "loss": "PASS", "verdict": "PASS"},
        {"uplink": "backup", "latency": "PASS", "jitter": "PASS", "loss": "PASS", "verdict": "PASS"}]})
    d = lab.ctl("diag", "uplinks")
    assert d["limits"] == {"latency_ms": 150.0, "jitter_ms": 40.0, "loss_pct": 1.0}
    assert all(u["capacity_calls"] > 0 for u in d["uplinks"])  # veth: 10 Gbit/s / 100 kbit/s


def test_carrier_loss_fails_over_and_fails_back_after_holddown(lab):
    before = counters(lab)
    lab.run("wanp", "ip link set out0 down")  # outpost's wanp0 loses carrier
    s = wait_json(lab, "show uplinks", {"active": "backup", "uplinks": [{"uplink": "primary", "link": "down"}]})
    assert s["history"][0]["to"] == "backup"
    assert "link down" in s["history"][0]["reason"]
    assert route_dev(lab) == lab.wg
    assert vendor_answers(lab)  # through the tunnel
    lab.run("wanp", "ip link set out0 up")
    s = wait_json(lab, "show uplinks", {"active": "primary"}, timeout=HOLDDOWN_S + 15)
    assert s["history"][0]["reason"] == "primary healthy for the hold-down"
    assert s["history"][0]["gap_ms"] == 0  # make-before-break: the backup answered until the switch
    after = counters(lab)
    assert after["failovers"] == before["failovers"] + 1
    assert after["failbacks"] == before["failbacks"] + 1
    assert route_dev(lab) == "wanp0"


def test_admin_down_on_outpost_side_fails_over_and_routes_come_back(lab):
    lab.run("outpost", "ip link set wanp0 down")  # the kernel flushes routes via wanp0
    wait_json(lab, "show uplinks", {"active": "backup"})
    assert route_dev(lab) == lab.wg
    assert vendor_answers(lab)
    lab.run("outpost", "ip link set wanp0 up")
    wait_json(lab, "show uplinks", {"active": "primary"}, timeout=HOLDDOWN_S + 15)
    # The standby route via the primary is back (reconciled after the link came up).
    table = lab.run("outpost", ["ip", "route", "show", "table", str(TABLE)]).stdout
    assert "via 198.51.100.2 dev wanp0 proto 242 metric 100" in table


def test_silent_loss_fails_over_on_lost_probes(lab):
    before = counters(lab)
    drop_ingress(lab, "outpost", "wanp0")
    drop_ingress(lab, "wanp", "out0")
    s = wait_json(lab, "show uplinks", {"active": "backup", "uplinks": [{"uplink": "primary", "link": "up",
                                                                         "state": "down"}]})
    assert "probes unanswered" in s["history"][0]["reason"]
    assert s["history"][0]["gap_ms"] > 0
    assert s["uplinks"][0]["detections"] >= 1
    assert vendor_answers(lab)
    for role in ("outpost", "wanp"):
        lab.run(role, "nft delete table netdev oploss")
    wait_json(lab, "show uplinks", {"active": "primary"}, timeout=HOLDDOWN_S + 15)
    assert counters(lab)["failovers"] == before["failovers"] + 1


def probe_kinds(s):
    return {u["uplink"]: u["probe"]["in_use"] for u in s["uplinks"]}


def test_icmp_fallback_when_the_vendors_udp_echo_is_silent(lab):
    """auto probes: with the vendor's UDP echo unreachable (nft drops UDP to port 7 in the
    vendor namespace), both uplinks fall back to ICMP echo and keep their statistics; silent
    loss and carrier loss still fail over, failback still waits for the hold-down, and UDP is
    used again once its echo answers."""
    lab.run("vendor", ["nft", "add", "table", "inet", "opnoecho"])
    lab.run("vendor", ["nft", "add", "chain", "inet", "opnoecho", "in",
                       "{ type filter hook input priority 0; policy accept; }"])
    lab.run("vendor", ["nft", "add", "rule", "inet", "opnoecho", "in", "udp", "dport", "7", "drop"])
    try:
        s = wait_json(lab, "show uplinks", {"active": "primary", "uplinks": [
            {"uplink": "primary", "state": "up", "probe": {"mode": "auto", "in_use": "icmp"}},
            {"uplink": "backup", "state": "up", "probe": {"mode": "auto", "in_use": "icmp"}}]})
        for u in s["uplinks"]:
            assert u["probe"]["icmp_socket"] in ("dgram", "raw")
            assert u["probe"]["kind_switches"] >= 1
        echoes = {u["uplink"]: u["probe"]["icmp_echoes"] for u in s["uplinks"]}
        wait_json(lab, "diag uplinks", {"uplinks": [{"uplink": "primary", "probe": "icmp", "verdict": "PASS"},
                                                    {"uplink": "backup", "probe": "icmp", "verdict": "PASS"}]})
        before = counters(lab)
        # Silent loss on the primary, probed by ICMP only.
        drop_ingress(lab, "outpost", "wanp0")
        drop_ingress(lab, "wanp", "out0")
        s = wait_json(lab, "show uplinks", {"active": "backup", "uplinks": [
            {"uplink": "primary", "link": "up", "state": "down"},
            {"uplink": "backup", "state": "up", "probe": {"in_use": "icmp"}}]})
        assert "probes unanswered" in s["history"][0]["reason"]
        assert route_dev(lab) == lab.wg
        for role in ("outpost", "wanp"):
            lab.run(role, "nft delete table netdev oploss")
        s = wait_json(lab, "show uplinks", {"active": "primary"}, timeout=HOLDDOWN_S + 15)
        assert s["history"][0]["reason"] == "primary healthy for the hold-down"
        assert s["history"][0]["gap_ms"] == 0
        # Carrier loss: the link event, whatever the probe kind.
        lab.run("wanp", "ip link set out0 down")
        wait_json(lab, "show uplinks", {"active": "backup"})
        lab.run("wanp", "ip link set out0 up")
        s = wait_json(lab, "show uplinks", {"active": "primary", "uplinks": [
            {"uplink": "primary", "probe": {"in_use": "icmp"}}]}, timeout=HOLDDOWN_S + 15)
        after = counters(lab)
        assert after["failovers"] == before["failovers"] + 2
        assert after["failbacks"] == before["failbacks"] + 2
        assert all(u["probe"]["icmp_echoes"] > echoes[u["uplink"]] for u in s["uplinks"])
    finally:
        lab.run("vendor", "nft delete table inet opnoecho", check=False)
    s = wait_json(lab, "show uplinks", {"active": "primary", "uplinks": [
        {"uplink": "primary", "state": "up", "probe": {"in_use": "udp", "trying_icmp": False}},
        {"uplink": "backup", "state": "up", "probe": {"in_use": "udp", "trying_icmp": False}}]})


def test_no_flapping_at_20_percent_loss(lab):
    before = counters(lab)
    for role, dev in (("outpost", "wanp0"), ("wanp", "out0")):
        drop_ingress(lab, role, dev, rule="numgen random mod 5 == 0 drop")
    # Watch for a good while (many hold-downs): loss is seen, at most one switch happens
    # (to the backup: 20 % loss never passes the failback's 1 % bar), and no failback.
    lab.wait_until(lambda: lab.ctl("show", "uplinks")["uplinks"][0]["loss_pct"] >= 10, timeout=20,
                   what="probe loss on the primary")
    time.sleep(HOLDDOWN_S * 5)
    after = counters(lab)
    assert after["switches"] - before["switches"] <= 1
    assert after["failbacks"] == before["failbacks"]
    s = lab.ctl("show", "uplinks")
    if after["switches"] > before["switches"]:
        assert s["active"] == "backup"
        assert s["uplinks"][0]["stable"] is False


def test_prefer_forces_the_path(lab):
    r = lab.ctl("uplink", "prefer", "backup")
    assert r == {"preference": "backup", "active": "backup"}
    assert route_dev(lab) == lab.wg
    assert vendor_answers(lab)
    r = lab.ctl("uplink", "prefer", "primary")
    assert r["active"] == "primary"
    assert route_dev(lab) == "wanp0"
    bad = lab.ctl("uplink", "prefer", "sideways", check=False)
    assert bad.returncode == 2


def test_hand_made_changes_to_outposts_objects_are_repaired_foreign_ones_kept(lab):
    before = counters(lab)
    lab.run("outpost", f"ip route del {VENDOR_PREFIX} table {TABLE} metric 0")
    lab.run("outpost", f"ip rule del priority {TABLE} to {VENDOR_PREFIX} table {TABLE}")
    lab.run("outpost", "ip route add 192.0.2.128/25 via 192.0.2.2 table 4343")  # not outpost's
    lab.run("outpost", "ip rule add priority 4343 to 192.0.2.128/25 table 4343")
    lab.wait_until(lambda: counters(lab)["repairs"] >= before["repairs"] + 2, what="repairs")
    assert f"{TABLE}:\tfrom all to {VENDOR_PREFIX} lookup {TABLE}" in rules(lab)
    assert route_dev(lab) == "wanp0"
    assert "4343:\tfrom all to 192.0.2.128/25 lookup 4343" in rules(lab)
    assert "192.0.2.128/25 via 192.0.2.2" in lab.run("outpost", "ip route show table 4343").stdout
    lab.run("outpost", "ip rule del priority 4343")
    lab.run("outpost", "ip route flush table 4343")


def test_provisioning_that_reaches_the_vendor_is_committed(lab):
    path = lab.rundir / "outpost.yaml"
    r = lab.ctl("link", "provision", "primary", "--interface", "wanp0", "--address", "198.51.100.1/30",
                "--gateway", "198.51.100.2", "--mtu", "1500", "--confirm-timeout", "20", "--wait", timeout=30)
    assert r["state"] == "committed"
    assert "mtu: 1500" in path.read_text()
    assert (lab.rundir / "outpost.yaml.prev").exists()
    assert lab.ctl("show", "uplinks")["provisioning"]["state"] == "committed"
    assert lab.ctl("config", "check", str(path), "--profile-dir", str(lab_repo() / "daemon" / "profiles"),
                   json=False, check=False).returncode == 0


def test_provisioning_that_cannot_reach_the_vendor_rolls_back(lab):
    path = lab.rundir / "outpost.yaml"
    before = path.read_text()
    # A new address and a gateway nobody answers on: no echo comes back through the new link.
    r = lab.ctl("link", "provision", "primary", "--interface", "wanp0", "--address", "198.51.100.9/30",
                "--gateway", "198.51.100.10", "--confirm-timeout", "5")
    assert r["state"] == "confirming"
    assert "198.51.100.10" in path.read_text()
    addresses = lab.run("outpost", ["ip", "-4", "-br", "addr", "show", "wanp0"]).stdout
    assert "198.51.100.9/30" in addresses  # outpost added it (the lab set 198.51.100.1/30)
    s = wait_json(lab, "show uplinks", {"provisioning": {"state": "rolled_back"}}, timeout=20)
    assert "no echo from the vendor" in s["provisioning"]["reason"]
    assert path.read_text() == before
    assert "198.51.100.10" in (lab.rundir / "outpost.yaml.failed").read_text()
    wait_json(lab, "show uplinks", {"active": "primary", "uplinks": [{"uplink": "primary", "state": "up"}]},
              timeout=HOLDDOWN_S + 15)
    assert "via 198.51.100.2 dev wanp0" in lab.run("outpost", ["ip", "route", "show", "table", str(TABLE)]).stdout
    addresses = lab.run("outpost", ["ip", "-4", "-br", "addr", "show", "wanp0"]).stdout
    assert "198.51.100.9/30" not in addresses and "198.51.100.1/30" in addresses  # only outpost's removed
    bad = lab.ctl("link", "provision", "primary", "--interface", "wanp0", "--address", "198.51.100.1/30",
                  "--gateway", "198.51.100.9", check=False)
    assert bad.returncode == 2  # refused before anything is written
    assert path.read_text() == before


def lab_repo():
    from lab import REPO
    return REPO


def test_stop_removes_only_what_outpost_added(lab):
    lab.stop("outpostd")
    assert rules(lab) == lab.before["rules"]
    assert routes_all(lab) == lab.before["routes"]
    assert lab.wg not in lab.run("outpost", ["ip", "-br", "link"]).stdout
    assert not os.path.exists(f"/var/run/wireguard/{lab.wg}.sock")
