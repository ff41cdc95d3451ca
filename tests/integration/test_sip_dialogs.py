"""Mid-dialog changes through outpost, with real peers: a SIPp phone on the LAN calls a SIPp
callee behind Kamailio (digest auth), then puts the call on hold with a re-INVITE
(a=sendonly) and resumes it with an UPDATE. Both follow the route set through outpost;
each SDP is rewritten again, onto the same relay ports (issue 6: "re-INVITE and UPDATE keep
the same relay ports"), with the direction attributes kept.

Asserts on what each SIPp received (their -trace_msg files), on SIPp's verdict and on the
relay's stream count; never on timings.
"""
import re

import pytest

from helpers import REPO, sipp_received as received, wait_json

LAB_DIR = REPO / "tests" / "lab"
UAS_PORT = 5071  # this module's callee, behind Kamailio (uas=)




def media_of(message):
    c = re.search(r"^c=IN IP4 (\S+)", message, re.M)
    m = re.search(r"^m=audio (\d+)", message, re.M)
    d = re.search(r"^a=(sendrecv|sendonly|recvonly|inactive)\s*$", message, re.M)
    return (c.group(1) if c else None, int(m.group(1)) if m else None, d.group(1) if d else "sendrecv")


@pytest.fixture(scope="module")
def dialog_lab(lab):
    lab.stop("kamailio")
    lab.start_kamailio(auth={"alice": "secret"}, uas=f"sip:203.0.113.10:{UAS_PORT}")
    lab.start("vendor", "sipp-uas-reinvite", [
        "sipp", "-sf", f"{LAB_DIR}/sipp_uas_reinvite.xml", "-i", "203.0.113.10", "-p", str(UAS_PORT), "-nostdin",
        "-mi", "203.0.113.10", "-mp", "6200", "-trace_msg", "-message_file", f"{lab.rundir}/uas-reinvite-messages.log"])
    lab.wait_until(lambda: lab.listening("vendor", "udp", "203.0.113.10", UAS_PORT), timeout=10, what="sipp uas")
    wait_json(lab, "show sip", {"servers": [{"address": "203.0.113.10:5060", "state": "usable"}]})
    yield lab
    lab.stop("sipp-uas-reinvite")


def test_hold_by_reinvite_and_resume_by_update_keep_the_relay_ports(dialog_lab):
    lab = dialog_lab
    trace = lab.rundir / "uac-reinvite-messages.log"
    r = lab.run("lan", [
        "sipp", "10.20.0.1:5060", "-sf", f"{LAB_DIR}/sipp_uac_reinvite.xml", "-i", "10.20.0.10", "-p", "5092",
        "-mi", "10.20.0.10", "-mp", "6300", "-m", "1", "-nostdin", "-timeout", "30", "-timeout_error",
        "-s", "bob", "-au", "alice", "-ap", "secret", "-set", "caller", "alice", "-d", "500",
        "-trace_msg", "-message_file", str(trace)], check=False, timeout=45)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]

    # The vendor side: INVITE, re-INVITE and UPDATE all name outpost's uplink leg, the same
    # port each time, with the phone's direction attributes; nothing of the LAN.
    vendor = received(lab.rundir / "uas-reinvite-messages.log")
    offers = [media_of(text) for first, text in vendor if first.startswith(("INVITE ", "UPDATE "))]
    assert len(offers) == 3, [first for first, _ in vendor]
    (addr, port, _), = {(a, p, None) for a, p, _ in offers}
    assert addr == "198.51.100.1" and 30000 <= port <= 40000, offers
    assert [d for _, _, d in offers] == ["sendrecv", "sendonly", "sendrecv"], offers
    assert not any("10.20.0." in text for _, text in vendor)

    # The phone's side: the three 200s with SDP name outpost's LAN leg, one port, the
    # callee's directions; nothing of the vendor's addresses.
    phone = received(trace)
    answers = [media_of(text) for first, text in phone if first.startswith("SIP/2.0 200") and "m=audio" in text]
    assert len(answers) == 3, [first for first, _ in phone]
    (addr, port, _), = {(a, p, None) for a, p, _ in answers}
    assert addr == "10.20.0.1" and 10000 <= port <= 20000, answers
    assert [d for _, _, d in answers] == ["sendrecv", "recvonly", "sendrecv"], answers
    assert not any("203.0.113." in text for _, text in phone)

    # One stream for the whole call, gone with the BYE.
    wait_json(lab, "show media", {"streams": 0})
    counters = lab.ctl("show media")["counters"]
    assert counters["offers_failed"] == 0, counters
