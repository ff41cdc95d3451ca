"""The media relay (dataplane/media_*) and the SDP rewrite (sipalg/sdp_rewrite) in the lab:
a SIPp phone on the LAN (10.20.0.10) calls a SIPp callee behind Kamailio at the vendor
(203.0.113.10:5070) that echoes RTP (-rtp_echo). The SDP each side receives must name
outpost (LAN address towards the phone, uplink address towards the vendor, ports from the
configured ranges); RTP sent from the LAN must come back, byte for byte, through both legs.
The phone's media is sent from another port than its SDP names (as behind a NAT), so the
LAN leg has to latch onto the real source.

Asserts on bytes on the wire, on what each SIPp received, and on `show calls` / `show
media` counters and the call record; never on timings.
"""
import csv
import json
import re
from pathlib import Path

import pytest

from helpers import REPO, wait_json

LAB_DIR = REPO / "tests" / "lab"
UAS_MEDIA = 6000  # the callee's RTP port (SIPp -mp, echoed with -rtp_echo)
PHONE_SDP_PORT = 6100  # what the phone's SDP names
PHONE_REAL_PORT = 7100  # where its RTP really comes from (a NAT's rebinding)
LAN_RANGE = (10000, 20000)
UPLINK_RANGE = (30000, 40000)

RTP_PROBE = str(LAB_DIR / "rtp_probe.py")  # sends RTP, collects what comes back


def sdp_in(trace_path, first_line_prefix):
    """(c= address, m=audio port) of the SDP in the last message received whose first line
    starts with first_line_prefix, from a SIPp -trace_msg file."""
    found = None
    for block in trace_path.read_text(errors="replace").split("-----------------------------------------------"):
        if "message received" not in block:
            continue
        message = block.split("bytes :", 1)[-1].lstrip("\r\n")
        if not message.startswith(first_line_prefix):
            continue
        c = re.search(r"^c=IN IP4 (\S+)", message, re.M)
        m = re.search(r"^m=audio (\d+)", message, re.M)
        if c and m:
            found = (c.group(1), int(m.group(1)))
    return found


@pytest.fixture(scope="module")
def media_lab(lab):
    lab.stop("kamailio")
    lab.start_kamailio(auth={"alice": "secret"}, uas="sip:203.0.113.10:5070")
    lab.start("vendor", "sipp-uas-echo", [
        "sipp", "-sf", f"{LAB_DIR}/sipp_uas.xml", "-i", "203.0.113.10", "-p", "5070", "-nostdin",
        "-mi", "203.0.113.10", "-mp", str(UAS_MEDIA), "-rtp_echo", "-trace_msg", "-message_file",
        f"{lab.rundir}/uas-echo-messages.log"])
    lab.wait_until(lambda: lab.listening("vendor", "udp", "203.0.113.10", 5070), timeout=10, what="sipp uas")
    wait_json(lab, "show sip", {"servers": [{"address": "203.0.113.10:5060", "state": "usable"}]})
    yield lab
    lab.stop("sipp-uas-echo")


def start_call(lab, name, hold_ms):
    return lab.start("lan", name, [
        "sipp", "10.20.0.1:5060", "-sf", f"{LAB_DIR}/sipp_uac_auth.xml", "-i", "10.20.0.10", "-p", "5090",
        "-mi", "10.20.0.10", "-mp", str(PHONE_SDP_PORT), "-m", "1", "-nostdin", "-timeout", "40",
        "-timeout_error", "-s", "bob", "-au", "alice", "-ap", "secret", "-set", "caller", "alice",
        "-d", str(hold_ms), "-trace_msg", "-message_file", f"{lab.rundir}/{name}-messages.log"])


def confirmed_call(lab):
    reply = wait_json(lab, "show calls", {"calls": [{"state": "confirmed", "method": "INVITE"}]}, timeout=20)
    return [c for c in reply["calls"] if c["state"] == "confirmed"][0]


def cdr_rows(lab):
    cdr_dir = Path(lab.ctl("show sip")["cdr_dir"])
    rows = []
    for f in sorted(cdr_dir.glob("calls-*.csv")):
        with open(f, newline="") as fh:
            lines = list(csv.reader(fh))
        rows += [dict(zip(lines[0], r)) for r in lines[1:]]
    return rows


def test_a_call_relays_rtp_both_ways_through_rewritten_sdp(media_lab):
    lab = media_lab
    records_before = len(cdr_rows(lab))
    call = start_call(lab, "sipp-media-call", hold_ms=6000)
    row = confirmed_call(lab)
    assert len(row["media"]) == 1, row
    stream = row["media"][0]
    lan_leg, uplink_leg = stream["lan"]["local"], stream["uplink"]["local"]
    lan_host, lan_port = lan_leg.rsplit(":", 1)
    up_host, up_port = uplink_leg.rsplit(":", 1)
    assert lan_host == "10.20.0.1" and LAN_RANGE[0] <= int(lan_port) <= LAN_RANGE[1], stream
    assert up_host == "198.51.100.1" and UPLINK_RANGE[0] <= int(up_port) <= UPLINK_RANGE[1], stream

    # What each side was told: outpost's legs, never the other side's addresses.
    assert sdp_in(lab.rundir / "sipp-media-call-messages.log", "SIP/2.0 200") == ("10.20.0.1", int(lan_port))
    assert sdp_in(lab.rundir / "uas-echo-messages.log", "INVITE") == ("198.51.100.1", int(up_port))

    r = lab.run("lan", ["python3", RTP_PROBE, f"10.20.0.10:{PHONE_REAL_PORT}", lan_leg, "50"], timeout=30)
    probe = json.loads(r.stdout)
    sent, received = probe["sent"], probe["received"]
    # Until the LAN leg has latched onto the real source, echoes go to the port the SDP
    # named: at most latch_packets of them miss the probe.
    assert len(received) >= 50 - lab.ctl("show media")["latch_packets"], (len(received), r.stderr)
    assert set(received) <= set(sent), "an echoed packet came back changed"

    row = [c for c in lab.ctl("show calls")["calls"] if c["dialog"] == row["dialog"]][0]
    stream = row["media"][0]
    assert stream["lan"]["latched"] and stream["lan"]["peer"] == f"10.20.0.10:{PHONE_REAL_PORT}", stream
    assert stream["uplink"]["peer"] == f"203.0.113.10:{UAS_MEDIA}", stream
    assert stream["to_vendor"]["packets"] == 50 and stream["to_vendor"]["bytes"] == 50 * 172, stream
    assert stream["to_vendor"]["lost"] == 0, stream
    assert stream["to_lan"]["packets"] == 50, stream

    assert call.wait(40) == 0, call.log_tail(30)
    lab.wait_until(lambda: len(cdr_rows(lab)) == records_before + 1, timeout=10, what="the call record")
    rec = cdr_rows(lab)[-1]
    assert rec["streams"] == "1" and rec["packets_to_vendor"] == "50" and rec["packets_to_lan"] == "50", rec
    assert rec["lost_to_vendor"] == "0" and float(rec["mos_min"]) > 4.0, rec
    # The call ended: its ports are free again.
    wait_json(lab, "show media", {"streams": 0})


def test_media_from_outside_the_lan_is_not_relayed(media_lab):
    """A host outside lan.client_subnets (10.20.0.200) sending to a LAN leg is dropped and
    counted; the call's own media still flows."""
    lab = media_lab
    call = start_call(lab, "sipp-media-hijack", hold_ms=5000)
    row = confirmed_call(lab)
    lan_leg = row["media"][0]["lan"]["local"]
    before = lab.ctl("show media")["dropped"].get("source_not_allowed", 0)
    r = lab.run("lan", ["python3", RTP_PROBE, "10.20.0.200:7300", lan_leg, "10"], timeout=30)
    assert json.loads(r.stdout)["received"] == []
    after = lab.ctl("show media")["dropped"].get("source_not_allowed", 0)
    assert after == before + 10
    stream = [c for c in lab.ctl("show calls")["calls"] if c["dialog"] == row["dialog"]][0]["media"][0]
    assert stream["to_vendor"]["packets"] == 0, stream
    r = lab.run("lan", ["python3", RTP_PROBE, f"10.20.0.10:{PHONE_REAL_PORT + 1}", lan_leg, "20"], timeout=30)
    assert len(json.loads(r.stdout)["received"]) >= 20 - lab.ctl("show media")["latch_packets"]
    assert call.wait(40) == 0, call.log_tail(30)
