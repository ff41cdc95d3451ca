"""Issue 5's NAT keep-alive, identity hiding and PRACK, in the lab with real peers:
- a LAN device (SIPp) registered over UDP gets outpost's OPTIONS keep-alive from
  10.20.0.1:5060 every sip.keepalive (5 s here), answers it, and is shown unreachable once
  it stops answering (three rounds);
- a LAN device that puts its own address in From (host and display name), P-Asserted-Identity
  and Call-Info calls with 100rel through outpost and Kamailio to a SIPp callee that answers
  with a reliable 183: the callee's INVITE has no LAN address anywhere (headers and SDP), RSeq
  and RAck pass, the PRACK follows the route set through Kamailio, and the device gets its own
  From/To back.

Asserts on what each SIPp received (their -trace_msg files), on Kamailio's log, on SIPp's
verdict and on `show sip` / `show sip registrations`; never on timings.
"""
import pytest

from helpers import REPO, sipp_client as sipp, sipp_received as received, wait_json

LAB_DIR = REPO / "tests" / "lab"
UAS_PORT = 5076  # this module's callee behind Kamailio (uas=)
KEEPALIVE = 5    # sip.keepalive for this module (the minimum)






def id_config(lab):
    # AETA's extra port too: a device registered through it is pinged (and called) from it.
    return lab.config(sip={"keepalive": KEEPALIVE}, vendor={"sip_extra_ports": ["5070"]})


@pytest.fixture(scope="module")
def id_lab(lab):
    lab.stop("outpostd")
    lab.start_outpostd(id_config(lab))
    lab.stop("kamailio")
    lab.start_kamailio(auth={"alice": "secret"}, uas=f"sip:203.0.113.10:{UAS_PORT}")
    wait_json(lab, "show sip", {"servers": [{"address": "203.0.113.10:5060", "state": "usable"}],
                                "keepalive_interval_s": KEEPALIVE})
    yield lab


def alice(lab, port):
    reply = lab.ctl("show sip registrations")
    rows = [r for r in reply.get("registrations", []) if r["source"] == f"10.20.0.10:{port}"]
    return rows[0] if rows else None


def first_keepalive(lab, port, name):
    """Runs a SIPp device on 10.20.0.10:`port` that answers one OPTIONS; what it received."""
    trace = lab.rundir / f"{name}-messages.log"
    device = lab.start("lan", f"sipp-{name}", [
        "sipp", "-sf", f"{LAB_DIR}/sipp_options_uas.xml", "-i", "10.20.0.10", "-p", str(port), "-m", "1", "-nostdin",
        "-timeout", "30", "-timeout_error", "-trace_msg", "-message_file", str(trace)])
    assert device.wait(4 * KEEPALIVE + 10) == 0, device.log_tail(30)
    return received(trace)


def test_udp_devices_get_options_keepalives_from_the_lan_address(id_lab):
    port = 5090
    r = sipp(id_lab, "sipp_register_auth.xml", "-s", "alice", "-au", "alice", "-ap", "secret", "-set", "expires", "300",
             port=port)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    got = first_keepalive(id_lab, port, "keepalive")
    assert got and got[0][0] == f"OPTIONS sip:alice@10.20.0.10:{port};transport=UDP SIP/2.0", got
    ping = got[0][1]
    assert "Via: SIP/2.0/UDP 10.20.0.1:5060;branch=z9hG4bK-opka" in ping, ping
    assert "198.51.100." not in ping and "203.0.113." not in ping, ping
    id_lab.wait_until(lambda: (alice(id_lab, port) or {}).get("keepalive", {}) and
                      alice(id_lab, port)["keepalive"]["last_status"] == 200, timeout=10, what="keep-alive answered")
    assert alice(id_lab, port)["keepalive"]["reachable"] is True
    counters = id_lab.ctl("show sip")["counters"]
    assert counters["keepalives_sent"] >= 1 and counters["keepalives_answered"] >= 1, counters
    # The device is gone (SIPp exited): three unanswered rounds later it is shown unreachable,
    # and its binding is kept (it ends at the vendor's expiry).
    id_lab.wait_until(lambda: alice(id_lab, port)["keepalive"]["reachable"] is False, timeout=5 * KEEPALIVE,
                      interval=1, what="keep-alive misses")
    assert id_lab.ctl("show sip")["counters"]["keepalives_failed"] >= 3
    assert alice(id_lab, port)["expires_in"] > 0


def test_a_device_registered_on_the_extra_port_is_pinged_from_it_after_a_restart(id_lab):
    """The binding keeps the extra LAN port the device registered through (5070): after
    outpostd restarts, its keep-alive OPTIONS still leave from 10.20.0.1:5070, the port the
    device's NAT or firewall has open, not from 5060."""
    port = 5094
    r = sipp(id_lab, "sipp_register_auth.xml", "-s", "alice", "-au", "alice", "-ap", "secret", "-set", "expires", "300",
             port=port, remote="10.20.0.1:5070")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert (alice(id_lab, port) or {}).get("local_port") == 5070, id_lab.ctl("show sip registrations")
    id_lab.stop("outpostd")
    id_lab.start_outpostd(id_config(id_lab))
    row = wait_json(id_lab, "show sip registrations", {"registrations": [{"source": f"10.20.0.10:{port}"}]})
    assert [x["local_port"] for x in row["registrations"] if x["source"] == f"10.20.0.10:{port}"] == [5070], row
    got = first_keepalive(id_lab, port, "keepalive-5070")
    assert got and got[0][0].startswith(f"OPTIONS sip:alice@10.20.0.10:{port}"), got
    assert "Via: SIP/2.0/UDP 10.20.0.1:5070;branch=z9hG4bK-opka" in got[0][1], got[0][1]


@pytest.fixture(scope="module")
def prack_call(id_lab):
    """One call with 100rel from a device that leaks its address in its identity headers."""
    uas_trace = id_lab.rundir / "uas-prack-messages.log"
    uas = id_lab.start("vendor", "sipp-uas-prack", [
        "sipp", "-sf", f"{LAB_DIR}/sipp_uas_prack.xml", "-i", "203.0.113.10", "-p", str(UAS_PORT), "-m", "1",
        "-nostdin", "-timeout", "30", "-timeout_error", "-trace_msg", "-message_file", str(uas_trace)])
    id_lab.wait_until(lambda: id_lab.listening("vendor", "udp", "203.0.113.10", UAS_PORT), timeout=10, what="sipp uas")
    uac_trace = id_lab.rundir / "uac-prack-messages.log"
    r = sipp(id_lab, "sipp_uac_prack.xml", "-s", "bob", "-trace_msg", "-message_file", str(uac_trace), port=5094)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:] + uas.log_tail(30)
    assert uas.wait(20) == 0, uas.log_tail(30)
    return received(uac_trace), received(uas_trace)


def test_the_vendor_never_sees_a_lan_address_in_identity_headers(id_lab, prack_call):
    _, uas = prack_call
    invites = [text for first, text in uas if first.startswith("INVITE ")]
    assert invites, uas
    invite = invites[0]
    assert "10.20.0." not in invite, invite  # headers and SDP
    assert 'From: "LAN 198.51.100.1" <sip:alice@198.51.100.1:5094>;tag=' in invite, invite
    assert "P-Asserted-Identity: <sip:alice@198.51.100.1>" in invite, invite
    assert "Call-Info: <http://198.51.100.1/photo.png>;purpose=icon" in invite, invite
    for first, text in uas:
        assert "10.20.0." not in text, text
    counters = id_lab.ctl("show sip")["counters"]
    assert counters["lan_hosts_hidden"] >= 3, counters


def test_the_device_gets_its_own_from_back(prack_call):
    uac, _ = prack_call
    answers = [text for first, text in uac if first.startswith("SIP/2.0 1") or first.startswith("SIP/2.0 200")]
    assert answers, uac
    for text in answers:
        assert 'From: "LAN 10.20.0.10" <sip:alice@10.20.0.10:5094>;tag=' in text, text
        assert "203.0.113." not in text.split("\r\n\r\n", 1)[0].split("\n\n", 1)[0], text


def test_prack_is_relayed_in_dialog_with_rseq_and_rack(id_lab, prack_call):
    uac, uas = prack_call
    provisional = [text for first, text in uac if first.startswith("SIP/2.0 183")]
    assert provisional and "RSeq: 1" in provisional[0] and "Require: 100rel" in provisional[0], uac
    pracks = [(first, text) for first, text in uas if first.startswith("PRACK ")]
    assert pracks, uas
    assert pracks[0][0] == f"PRACK sip:203.0.113.10:{UAS_PORT};transport=UDP SIP/2.0", pracks[0][0]
    assert "RAck: 1 1 INVITE" in pracks[0][1], pracks[0][1]
    # In dialog, by the route set: through Kamailio (its Record-Route), from outpost's uplink.
    seen = [l for l in id_lab.peer("kamailio").log_text().splitlines() if "seen PRACK " in l]
    assert seen and all("198.51.100.1" in l and "10.20.0." not in l for l in seen), seen
    assert any(first.startswith("BYE ") for first, _ in uas), uas
    assert [first for first, _ in uac if first.startswith("SIP/2.0 200")], uac
