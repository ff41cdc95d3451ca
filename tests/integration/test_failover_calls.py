"""Calls across an uplink switch (issue 8, vpn/README.md "Calls across a switch"): a SIPp
phone on the LAN calls a SIPp callee behind Kamailio that echoes RTP; while the call is up
the private link's fibre is cut (outpost's wanp0 loses carrier, the POP withdraws its route),
outpost fails over to the WireGuard backup, and the call goes on: the vendor-facing address
(198.51.100.1, where SIP and media uplink sockets are bound) is the same on both paths, so
neither Kamailio nor the callee notices. Then the fibre is mended and outpost fails back
after the hold-down, make-before-break.

Asserts on which RTP sequence numbers came back (counts, not timings), on `show uplinks`
state and history, and on SIPp's exit status (the call ended with a BYE answered).

    OUTPOST_BUILD=build-failover /usr/bin/python3 -m pytest -x -q -s tests/integration/test_failover_calls.py
"""
import json
import os
import sys

import pytest

from helpers import REPO, PYTHON, Lab, build_dir, wait_json

LAB_DIR = REPO / "tests" / "lab"
HOLDDOWN_S = 2
UAS_MEDIA = 6000
PHONE_SDP_PORT = 6100
PHONE_REAL_PORT = 7100
PACKETS, INTERVAL_MS = 600, 20  # 12 s of media
WARMUP = 50                     # the first packets, before the LAN leg latched, are not counted
MAX_FAILOVER_LOSS = 25          # packets (500 ms of audio); the target is < 150 ms


@pytest.fixture(scope="module")
def lab():
    keep = os.environ.get("OUTPOST_LAB_KEEP", "") not in ("", "0")
    with Lab(build_dir=build_dir(), keep=keep, static_vendor_route=False) as lab:
        lab.binary("outpostd")
        lab.start_vendor()
        backup = lab.start_backup_tunnel(carry_primary=True)
        lab.start_outpostd(lab.config(uplinks={"backup": backup, "probe": {"holddown": HOLDDOWN_S}}))
        wait_json(lab, "show uplinks", {"active": "primary", "uplinks": [{"uplink": "primary", "state": "up"},
                                                                         {"uplink": "backup", "state": "up"}]})
        lab.stop("kamailio")
        lab.start_kamailio(auth={"alice": "secret"}, uas="sip:203.0.113.10:5070")
        lab.start("vendor", "sipp-uas-echo", [
            "sipp", "-sf", f"{LAB_DIR}/sipp_uas.xml", "-i", "203.0.113.10", "-p", "5070", "-nostdin",
            "-mi", "203.0.113.10", "-mp", str(UAS_MEDIA), "-rtp_echo"])
        lab.wait_until(lambda: lab.listening("vendor", "udp", "203.0.113.10", 5070), timeout=10, what="sipp uas")
        wait_json(lab, "show sip", {"servers": [{"address": "203.0.113.10:5060", "state": "usable"}]}, timeout=20)
        yield lab


class Stream:
    """rtp_stream.py in the background; its log says what was sent and what came back."""

    def __init__(self, lab, lan_leg, name="rtp-stream"):
        self.lab = lab
        self.peer = lab.start("lan", name, [PYTHON, LAB_DIR / "rtp_stream.py", f"10.20.0.10:{PHONE_REAL_PORT}",
                                                   lan_leg, PACKETS, INTERVAL_MS])

    def events(self, kind):
        return [int(line.split()[1]) for line in self.peer.log_text().splitlines()
                if line.startswith(kind + " ")]

    def last_sent(self):
        sent = self.events("sent")
        return sent[-1] if sent else -1

    def echoes_after(self, seq, count):
        return len([s for s in self.events("echo") if s > seq]) >= count

    def result(self):
        assert self.peer.wait(PACKETS * INTERVAL_MS / 1000 + 30) == 0, self.peer.log_tail(10)
        return json.loads(self.peer.log_text().strip().splitlines()[-1])


def start_call(lab, name, port):
    """alice (SIPp on `port`, SDP on PHONE_SDP_PORT) calls bob for the length of one Stream
    and stays up: (the SIPp peer, the confirmed call's `show calls` row)."""
    call = lab.start("lan", name, [
        "sipp", "10.20.0.1:5060", "-sf", f"{LAB_DIR}/sipp_uac_auth.xml", "-i", "10.20.0.10", "-p", str(port),
        "-mi", "10.20.0.10", "-mp", str(PHONE_SDP_PORT), "-m", "1", "-nostdin", "-timeout", "60",
        "-timeout_error", "-s", "bob", "-au", "alice", "-ap", "secret", "-set", "caller", "alice",
        "-d", str(PACKETS * INTERVAL_MS + 4000)])
    reply = wait_json(lab, "show calls", {"calls": [{"state": "confirmed", "method": "INVITE"}]}, timeout=20)
    return call, [c for c in reply["calls"] if c["state"] == "confirmed"][0]


def missing(received, first, last):
    got = set(received)
    return [s for s in range(first, last) if s not in got]


def test_a_call_survives_a_fibre_cut_and_the_failback(lab):
    call, row = start_call(lab, "sipp-failover-call", 5090)
    lan_leg, uplink_leg = row["media"][0]["lan"]["local"], row["media"][0]["uplink"]["local"]
    assert uplink_leg.startswith("198.51.100.1:"), row  # the vendor-facing address

    shown = lab.ctl("show uplinks")
    # What the vendor's end must hold (the lab's carry_primary=True does it).
    assert shown["vendor_side"] == {"peer_allowed_ips": ["198.51.100.17/32", "198.51.100.1/32"],
                                    "route_via_tunnel": "198.51.100.0/30 (metric above the private link's route)"}
    before = shown["counters"]
    stream = Stream(lab, lan_leg)
    lab.wait_until(lambda: stream.echoes_after(WARMUP, 10), timeout=20, what="echoes on the primary")

    cut_at = stream.last_sent()  # packets after this one may be in flight when the fibre goes
    lab.cut_primary_fibre()
    s = wait_json(lab, "show uplinks", {"active": "backup", "uplinks": [{"uplink": "primary", "state": "down"}]})
    failover = s["history"][0]
    assert failover["to"] == "backup", failover
    # Echoes keep coming through the tunnel, to and from the same address.
    lab.wait_until(lambda: stream.echoes_after(cut_at + 25, 10), timeout=10, what="echoes through the backup")

    mend_at = stream.last_sent()
    lab.mend_primary_fibre()
    s = wait_json(lab, "show uplinks", {"active": "primary"}, timeout=HOLDDOWN_S + 15)
    failback = s["history"][0]
    failback_at = stream.last_sent()
    assert failback["reason"] == "primary healthy for the hold-down", failback
    assert failback_at < PACKETS - 25, "the stream ended before the failback: nothing measured"

    received = stream.result()["received"]
    lost_failover = missing(received, WARMUP, mend_at)
    lost_failback = missing(received, mend_at, PACKETS)
    print(f"\nfailover: {len(lost_failover)} RTP packets lost ({len(lost_failover) * INTERVAL_MS} ms, "
          f"probe gap {failover['gap_ms']} ms, {failover['reason']}); failback: {len(lost_failback)} lost "
          f"(probe gap {failback['gap_ms']} ms)")
    assert len(lost_failover) < MAX_FAILOVER_LOSS, lost_failover
    assert all(seq > cut_at for seq in lost_failover), (cut_at, lost_failover)  # none before the cut
    assert lost_failback == [], (mend_at, failback_at, lost_failback)  # make-before-break
    assert failback["gap_ms"] == 0

    assert call.wait(60) == 0, call.log_tail(30)  # the call ended normally: BYE sent and answered
    after = lab.ctl("show uplinks")["counters"]
    assert after["failovers"] == before["failovers"] + 1
    assert after["failbacks"] == before["failbacks"] + 1
    wait_json(lab, "show media", {"streams": 0})


def drop_ingress(lab, role, dev):
    """Silent loss, as test_uplinks.py injects it: an nftables netdev ingress drop on `dev`."""
    lab.run(role, ["nft", "add", "table", "netdev", "opcallloss"])
    lab.run(role, ["nft", "add", "chain", "netdev", "opcallloss", "in",
                   f'{{ type filter hook ingress device "{dev}" priority 0; policy drop; }}'])


def test_a_call_survives_silent_loss_on_the_primary_and_the_failback(lab):
    """The private link stays up but black-holes (ingress drop at both ends of outpost<->wanp):
    only the probes can see it. outpost fails over within its detection time; the vendor's
    POP, which in reality detects the same loss with its own BFD, is simulated by withdrawing
    its route through the private link once outpost has switched (its replies then take the
    tunnel, vpn/README.md "Calls across a switch"). The call goes on, the media gap is counted
    (probe gap in history, lost RTP sequence numbers), and the failback loses nothing."""
    call, row = start_call(lab, "sipp-silent-loss-call", 5091)
    lan_leg = row["media"][0]["lan"]["local"]
    before = lab.ctl("show uplinks")["counters"]
    stream = Stream(lab, lan_leg, name="rtp-stream-silent-loss")
    lab.wait_until(lambda: stream.echoes_after(WARMUP, 10), timeout=20, what="echoes on the primary")

    cut_at = stream.last_sent()
    try:
        drop_ingress(lab, "outpost", "wanp0")
        drop_ingress(lab, "wanp", "out0")
        s = wait_json(lab, "show uplinks", {"active": "backup", "uplinks": [
            {"uplink": "primary", "link": "up", "state": "down"}]})
        failover = s["history"][0]
        assert failover["to"] == "backup" and "probes unanswered" in failover["reason"], failover
        assert failover["gap_ms"] > 0  # the outage as the probes saw it, reported per switch
        # The vendor's side detects it too (its BFD): the POP withdraws its route.
        lab.run("wanp", "ip link set ven0 down")
        lab.run("vendor", "ip link set wanp0 down")
        withdrawn_at = stream.last_sent()
        lab.wait_until(lambda: stream.echoes_after(withdrawn_at + 5, 10), timeout=10,
                       what="echoes through the backup after silent loss")
    finally:
        for role in ("outpost", "wanp"):
            lab.run(role, "nft delete table netdev opcallloss", check=False)
    mend_at = stream.last_sent()
    lab.mend_primary_fibre()  # the POP's route comes back first, outpost follows after the hold-down
    s = wait_json(lab, "show uplinks", {"active": "primary"}, timeout=HOLDDOWN_S + 15)
    failback = s["history"][0]
    assert failback["reason"] == "primary healthy for the hold-down", failback
    assert stream.last_sent() < PACKETS - 25, "the stream ended before the failback: nothing measured"

    received = stream.result()["received"]
    lost_failover = missing(received, WARMUP, mend_at)
    lost_failback = missing(received, mend_at, PACKETS)
    print(f"\nsilent loss: {len(lost_failover)} RTP packets lost ({len(lost_failover) * INTERVAL_MS} ms, until the "
          f"vendor's side withdrew its route too; probe gap {failover['gap_ms']} ms, {failover['reason']}); "
          f"failback: {len(lost_failback)} lost (probe gap {failback['gap_ms']} ms)")
    assert lost_failover, "silent loss lost nothing: was it injected?"
    # Lost only between the loss and the vendor's withdrawal (plus what was in flight).
    assert all(cut_at < seq <= withdrawn_at + 10 for seq in lost_failover), (cut_at, withdrawn_at, lost_failover)
    assert lost_failback == [], (mend_at, lost_failback)  # make-before-break
    assert failback["gap_ms"] == 0

    assert call.wait(60) == 0, call.log_tail(30)  # the call was not dropped: BYE sent and answered
    after = lab.ctl("show uplinks")["counters"]
    assert after["failovers"] == before["failovers"] + 1
    assert after["failbacks"] == before["failbacks"] + 1
    wait_json(lab, "show media", {"streams": 0})


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-s"]))
