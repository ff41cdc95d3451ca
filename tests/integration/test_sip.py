"""The SIP application proxy (sipalg/) in the lab, with real peers: SIPp as LAN devices
(namespace lan, 10.20.0.10) talking to outpost at 10.20.0.1:5060, Kamailio as the vendor's
registrar and record-routing proxy (203.0.113.10, digest auth on), a SIPp UAS behind it as
the called party (203.0.113.10:5070, Kamailio's `uas=`).

Asserts on what the peers saw (Kamailio's log of each request's Via/Contact/Record-Route,
the UAS's message trace), on SIPp's verdict, and on `outpostctl show sip` counters.
"""
import re
import time
from pathlib import Path

import pytest

from helpers import REPO, metric, sip_request, sipp_client as sipp, sipp_received, udp_exchange, wait_json

REPO_LAB = "tests/lab"  # scenario files
UAS = "203.0.113.10:5070"
USERS = {"alice": "secret", "dave": "d4ve", "frank": "fr4nk"}
DEVICE_EXPIRY = 120  # sip.device_expiry default: what devices are told
VENDOR_EXPIRY = 3600  # sip.vendor_expiry default: what outpost asks of the vendor


def received_headers(trace_path):
    """The header lines of every message a SIPp instance received (its -trace_msg file)."""
    return [l for _, m in sipp_received(trace_path) for l in m.split("\n\n", 1)[0].splitlines() if l.strip()]


def kamailio_seen(lab, method):
    """Kamailio's `seen METHOD via=[...] contact=[...] rr=[...]` log lines."""
    return [l for l in lab.peer("kamailio").log_text().splitlines() if f"seen {method} " in l]


@pytest.fixture(scope="module")
def sip_lab(lab):
    """The lab with Kamailio asking for digest auth and a SIPp UAS behind it."""
    lab.stop("kamailio")
    lab.start_kamailio(auth=USERS, uas=f"sip:{UAS}")
    lab.start("vendor", "sipp-uas", ["sipp", "-sf", f"{REPO}/{REPO_LAB}/sipp_uas.xml", "-i", "203.0.113.10",
                                     "-p", "5070", "-nostdin", "-trace_msg", "-message_file",
                                     f"{lab.rundir}/uas-messages.log"])
    lab.wait_until(lambda: lab.listening("vendor", "udp", "203.0.113.10", 5070), timeout=10, what="sipp uas")
    wait_json(lab, "show sip", {"servers": [{"address": "203.0.113.10:5060", "state": "usable"}]})
    yield lab


def test_show_sip_lists_transports_and_the_located_server(sip_lab):
    reply = wait_json(sip_lab, "show sip", {
        "transports": [{"side": "lan", "transport": "udp", "address": "10.20.0.1:5060"},
                       {"side": "lan", "transport": "tcp", "address": "10.20.0.1:5060"},
                       {"side": "uplink", "transport": "udp", "address": "198.51.100.1:5060"}],
        "servers": [{"name": "sip.vendor.example", "address": "203.0.113.10:5060"}]})
    assert reply["identity"] == {"lan": "10.20.0.1:5060", "uplink": "198.51.100.1:5060"}


def test_options_to_outpost_itself(sip_lab):
    answer = udp_exchange(sip_lab, "lan", "10.20.0.1", 5060, options_to_outpost().encode(), source="10.20.0.10")
    assert answer is not None and answer.startswith(b"SIP/2.0 200 OK")


def test_register_with_digest_auth_through_outpost(sip_lab):
    r = sipp(sip_lab, "sipp_register_auth.xml", "-s", "alice", "-au", "alice", "-ap", "secret", "-set", "expires", "300")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    # The registrar saw outpost only: its uplink address in Via and Contact, nothing from the LAN.
    seen = kamailio_seen(sip_lab, "REGISTER")
    assert len(seen) >= 2, seen
    for line in seen:
        assert "10.20.0." not in line, line
        assert "198.51.100.1" in line, line
    reply = wait_json(sip_lab, "show sip registrations", {"registrations": [
        {"aor": "sip:alice@vendor.example", "contact": "sip:alice@10.20.0.10:5062;transport=UDP",
         "transport": "udp", "source": "10.20.0.10:5062"}]})
    # The vendor was asked for sip.vendor_expiry (Kamailio's max_expires is 3600 too).
    assert VENDOR_EXPIRY - 100 < reply["registrations"][0]["expires_in"] <= VENDOR_EXPIRY
    show = sip_lab.ctl("show sip")
    assert show["counters"]["registrations_relayed"] >= 1
    assert show["requests"]["REGISTER"] >= 2
    assert show["responses"]["4xx"] >= 1 and show["responses"]["2xx"] >= 1


def test_register_refresh_is_answered_from_the_binding(sip_lab):
    """Registration throttling: frank registers (relayed, challenged, 200) and refreshes at
    once; the refresh is answered by outpost (Kamailio sees only the first two REGISTERs),
    and both 200s tell the device sip.device_expiry."""
    before = sip_lab.ctl("show sip")["counters"]
    seen_before = [l for l in kamailio_seen(sip_lab, "REGISTER") if "198.51.100.1" in l]
    trace = sip_lab.rundir / "frank-messages.log"
    r = sipp(sip_lab, "sipp_register_refresh.xml", "-s", "frank", "-au", "frank", "-ap", "fr4nk", "-set", "expires",
             "600", "-trace_msg", "-message_file", str(trace), port=5084)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    got = received_headers(trace)
    oks = [l for l in got if l.startswith("SIP/2.0 200")]
    contacts = [l for l in got if l.startswith("Contact:")]
    assert len(oks) == 2, got
    assert contacts and all(l.endswith(f";expires={DEVICE_EXPIRY}") for l in contacts), contacts
    sip_lab.wait_until(lambda: len(kamailio_seen(sip_lab, "REGISTER")) >= len(seen_before) + 2, timeout=5,
                       what="kamailio log")
    seen = kamailio_seen(sip_lab, "REGISTER")[len(seen_before):]
    assert len(seen) == 2, seen  # REGISTER (401) and REGISTER with credentials; the refresh stayed local
    assert all(f"expires={VENDOR_EXPIRY}" in l for l in seen), seen
    after = sip_lab.ctl("show sip")["counters"]
    assert after["registrations_absorbed"] == before["registrations_absorbed"] + 1
    assert after["registrations_relayed"] == before["registrations_relayed"] + 1
    reply = wait_json(sip_lab, "show sip registrations", {"registrations": [{"aor": "sip:frank@vendor.example"}]})
    frank = [x for x in reply["registrations"] if x["aor"] == "sip:frank@vendor.example"]
    assert frank[0]["expires_in"] > VENDOR_EXPIRY - 100


def test_call_from_the_lan_to_the_vendor_and_back(sip_lab):
    before = sip_lab.ctl("show sip")["counters"]
    trace = sip_lab.rundir / "uac-5064-messages.log"
    r = sipp(sip_lab, "sipp_uac_auth.xml", "-s", "bob", "-au", "alice", "-ap", "secret", "-set", "caller", "alice",
             "-d", "500", "-trace_msg", "-message_file", str(trace), port=5064)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    # Two-way topology hiding: the device got outpost only (LAN Record-Route, an od<token>
    # contact for the far party), nothing of the vendor's hops, and its ACK and BYE still
    # reached the UAS (SIPp passed; the UAS trace below has them).
    got = received_headers(trace)
    assert any(l.startswith("Contact: <sip:od") and "@10.20.0.1:5060" in l for l in got), got
    assert [l for l in got if l.startswith("Record-Route:")] and all(
        l == "Record-Route: <sip:10.20.0.1:5060;lr>" for l in got if l.startswith("Record-Route:")), got
    assert not [l for l in got if "203.0.113." in l], [l for l in got if "203.0.113." in l]
    invites = kamailio_seen(sip_lab, "INVITE")
    assert len(invites) >= 2  # challenged, then authenticated
    for line in invites + kamailio_seen(sip_lab, "ACK") + kamailio_seen(sip_lab, "BYE"):
        assert "10.20.0." not in line, line
    assert any("rr=[<sip:198.51.100.1:5060;lr>]" in l for l in invites), invites
    # The UAS behind Kamailio: every message it got is free of LAN addresses (SDP aside:
    # the media relay rewrites bodies, this slice passes them through).
    trace = (sip_lab.rundir / "uas-messages.log").read_text()
    headers = "\n".join(l for l in trace.splitlines() if re.match(r"^(Via|Contact|Record-Route|Route|Call-ID):", l))
    assert "INVITE sip:bob@vendor.example" in trace and "BYE sip:" in trace
    assert "198.51.100.1" in headers and "10.20.0." not in headers, headers
    after = sip_lab.ctl("show sip")["counters"]
    assert after["calls_answered"] == before["calls_answered"] + 1
    assert after["transactions_created"] >= before["transactions_created"] + 3  # INVITE x2, BYE


def test_show_calls_and_the_call_record(sip_lab):
    """While alice's call to bob is up, `show calls` lists it (confirmed, parties, sides);
    when it ends, one CSV line (under the file's header line) lands in sip.cdr_dir."""
    import csv
    cdr_dir = Path(sip_lab.ctl("show sip")["cdr_dir"])

    def records():
        rows = []
        for f in sorted(cdr_dir.glob("calls-*.csv")):
            with open(f, newline="") as fh:
                lines = list(csv.reader(fh))
            assert lines[0][:3] == ["call", "start", "answer"], lines[0]
            rows += [dict(zip(lines[0], r)) for r in lines[1:]]
        return rows
    before = len(records()) if cdr_dir.exists() else 0
    call = sip_lab.start("lan", "sipp-call-held", [
        "sipp", "10.20.0.1:5060", "-sf", f"{REPO}/{REPO_LAB}/sipp_uac_auth.xml", "-i", "10.20.0.10", "-p", "5086",
        "-m", "1", "-nostdin", "-timeout", "30", "-timeout_error", "-s", "bob", "-au", "alice", "-ap", "secret",
        "-set", "caller", "alice", "-d", "3000"])
    reply = wait_json(sip_lab, "show calls", {"calls": [{"state": "confirmed", "method": "INVITE",
                                                          "from": "sip:alice@vendor.example",
                                                          "to": "sip:bob@vendor.example", "caller_side": "lan"}]})
    row = [c for c in reply["calls"] if c["state"] == "confirmed"][0]
    assert row["device"] == "udp:10.20.0.10:5086" and row["vendor"] == "203.0.113.10:5060", row
    assert call.wait(30) == 0, call.log_tail(30)
    sip_lab.wait_until(lambda: len(records()) == before + 1, timeout=10, what="call record")
    rec = records()[-1]
    assert rec["disposition"] == "answered" and rec["direction"] == "outbound", rec
    assert rec["caller"] == "sip:alice@vendor.example" and rec["callee"] == "sip:bob@vendor.example", rec
    # ISO 8601 UTC: compares as text.
    assert rec["end"] >= rec["answer"] >= rec["start"] > "2000" and int(rec["duration_s"]) >= 2, rec
    assert rec["status"] == "200" and rec["start"].endswith("Z"), rec
    assert rec["device"] == "udp:10.20.0.10:5086" and rec["vendor_server"] == "203.0.113.10:5060", rec
    assert sip_lab.ctl("show sip")["counters"]["call_records"] >= 1
    ended = [c for c in sip_lab.ctl("show calls")["calls"] if c["dialog"] == rec["call"]]
    assert not ended or ended[0]["state"] == "ended", ended


def test_call_over_tcp_from_the_lan(sip_lab):
    r = sipp(sip_lab, "sipp_uac_auth.xml", "-s", "bob", "-au", "alice", "-ap", "secret", "-set", "caller", "alice",
             "-d", "200", port=5066, transport="t1")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    show = sip_lab.ctl("show sip")
    assert any(t["side"] == "lan" and t["transport"] == "tcp" and t["received"] >= 1 for t in show["transports"])


def test_call_udp_on_the_lan_tcp_to_the_vendor(sip_lab):
    """The vendor's server reached over TCP (a vendor section without the profile, whose
    server is UDP), the device on UDP: outpost's uplink Via and Record-Route say TCP."""
    vendor = {"profile": None, "fqdns": ["vendor.example", "*.vendor.example"], "prefixes": ["203.0.113.0/24"],
              "resolvers": ["203.0.113.53"], "probe_targets": ["203.0.113.7:7"],
              "sip_servers": [{"host": "sip.vendor.example", "transport": "tcp"}]}
    sip_lab.stop("outpostd")
    sip_lab.start_outpostd(sip_lab.config(vendor=vendor))
    try:
        wait_json(sip_lab, "show sip", {"servers": [{"address": "203.0.113.10:5060", "transport": "tcp"}]})
        r = sipp(sip_lab, "sipp_uac_auth.xml", "-s", "bob", "-au", "alice", "-ap", "secret", "-set", "caller", "alice",
                 "-d", "200", port=5076)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        invites = [l for l in kamailio_seen(sip_lab, "INVITE") if "SIP/2.0/TCP 198.51.100.1:5060" in l]
        assert invites and all("10.20.0." not in l for l in invites), kamailio_seen(sip_lab, "INVITE")
        assert any("<sip:198.51.100.1:5060;transport=tcp;lr>" in l for l in invites), invites
        show = sip_lab.ctl("show sip")
        assert any(t["side"] == "uplink" and t["transport"] == "tcp" for t in show["transports"])
    finally:
        sip_lab.stop("outpostd")
        sip_lab.start_outpostd()


TLS_CLIENT = r"""
import socket, ssl, sys, time
ca, name, requests = sys.argv[1], sys.argv[2], sys.argv[3:]
ctx = ssl.create_default_context(cafile=ca)
raw = socket.create_connection(("10.20.0.1", 5061), timeout=5, source_address=("10.20.0.10", 0))
s = ctx.wrap_socket(raw, server_hostname=name)
port = s.getsockname()[1]
print("TLS", s.version())
buf = b""
for n, method in enumerate(requests):
    uri = "sip:10.20.0.1:5061" if method == "OPTIONS" else "sip:vendor.example"
    msg = (f"{method} {uri} SIP/2.0\r\nVia: SIP/2.0/TLS 10.20.0.10:{port};branch=z9hG4bKtls{n}{time.monotonic_ns()}\r\n"
           f"Max-Forwards: 70\r\nFrom: <sip:alice@vendor.example>;tag=t{n}\r\nTo: <sip:alice@vendor.example>\r\n"
           f"Call-ID: tls{n}-{time.monotonic_ns()}@10.20.0.10\r\nCSeq: 1 {method}\r\n"
           f"Contact: <sip:alice@10.20.0.10:{port};transport=tls>\r\nContent-Length: 0\r\n\r\n")
    s.sendall(msg.encode())
    while True:
        while b"\r\n\r\n" not in buf:
            buf += s.recv(65535)
        head, buf = buf.split(b"\r\n\r\n", 1)
        text = head.decode()
        if not text.startswith("SIP/2.0 100"):
            break
    print("ANSWER", method, text.replace("\r\n", "|"))
s.sendall(b"\r\n\r\n")  # RFC 5626 keep-alive ping: a CRLF comes back
print("PONG", repr(s.recv(16)))
"""


def test_sip_over_tls_on_the_lan(sip_lab):
    """sip.tls_certificate/tls_key (a lab CA certificate): a device connects over TLS to
    10.20.0.1:5061, its OPTIONS to outpost is answered, its REGISTER reaches Kamailio (UDP)
    and the 401 comes back over the TLS connection; a CRLFCRLF ping gets a CRLF."""
    cert, key = sip_lab.make_cert("sip.outpost.example")
    sip_lab.stop("outpostd")
    sip_lab.start_outpostd(sip_lab.config(sip={"tls_certificate": str(cert), "tls_key": str(key)}))
    try:
        wait_json(sip_lab, "show sip", {"transports": [{"side": "lan", "transport": "tls",
                                                         "address": "10.20.0.1:5061"}]})
        seen_before = len(kamailio_seen(sip_lab, "REGISTER"))
        r = sip_lab.run("lan", ["/usr/bin/python3", "-c", TLS_CLIENT, str(sip_lab.ca_cert), "sip.outpost.example",
                                "OPTIONS", "REGISTER"], timeout=20)
        out = r.stdout
        assert "TLS TLSv1." in out, out
        assert "ANSWER OPTIONS SIP/2.0 200 OK" in out, out
        assert "ANSWER REGISTER SIP/2.0 401" in out and "WWW-Authenticate: Digest" in out, out
        assert "Via: SIP/2.0/TLS 10.20.0.10:" in out, out  # its own Via back
        assert "PONG b'\\r\\n'" in out, out
        seen = kamailio_seen(sip_lab, "REGISTER")[seen_before:]
        assert seen and all("10.20.0." not in l and "198.51.100.1" in l for l in seen), seen
        show = sip_lab.ctl("show sip")
        tls = [t for t in show["transports"] if t["transport"] == "tls"][0]
        assert tls["accepted"] >= 1 and tls["received"] >= 2, tls
    finally:
        sip_lab.stop("outpostd")
        sip_lab.start_outpostd()


def test_a_call_on_the_profiles_extra_port(sip_lab):
    """vendor.sip_extra_ports (AETA codecs use 5070): a device calling outpost's 5070 gets
    its answers from 5070 and outpost's 5070 in Record-Route and the far party's Contact."""
    sip_lab.stop("outpostd")
    sip_lab.start_outpostd(sip_lab.config(vendor={"sip_extra_ports": ["5070"]}))
    try:
        wait_json(sip_lab, "show sip", {"transports": [{"side": "lan", "transport": "udp", "address": "10.20.0.1:5070"}]})
        trace = sip_lab.rundir / "uac-5070-messages.log"
        r = sipp(sip_lab, "sipp_uac_auth.xml", "-s", "bob", "-au", "alice", "-ap", "secret", "-set", "caller", "alice",
                 "-d", "200", "-trace_msg", "-message_file", str(trace), port=5088, remote="10.20.0.1:5070")
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        got = received_headers(trace)
        rr = [l for l in got if l.startswith("Record-Route:")]
        assert rr and all(l == "Record-Route: <sip:10.20.0.1:5070;lr>" for l in rr), got
        assert any(l.startswith("Contact: <sip:od") and "@10.20.0.1:5070" in l for l in got), got
        assert not [l for l in got if "203.0.113." in l], got
        show = sip_lab.ctl("show sip")
        extra = [t for t in show["transports"] if t.get("extra") and t["transport"] == "udp"]
        assert extra and extra[0]["received"] >= 4, show["transports"]  # INVITE x2, ACK x2, BYE
    finally:
        sip_lab.stop("outpostd")
        sip_lab.start_outpostd()


def test_malformed_packets_are_counted_and_the_daemon_stays_up(sip_lab):
    before = sip_lab.ctl("show sip")["dropped"]["malformed"]
    for payload in (b"\x00\x01garbage\r\n\r\n", b"INVITE sip:x SIP/2.0\r\nVia: nonsense\r\n\r\n",
                    b"REGISTER sip:vendor.example SIP/2.0\r\nContent-Length: 10\r\n\r\n"):
        assert udp_exchange(sip_lab, "lan", "10.20.0.1", 5060, payload, source="10.20.0.10", timeout=0.5) is None
    # A request with its mandatory headers but a bad CSeq method gets a 400.
    bad = options_to_outpost().replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE")
    answer = udp_exchange(sip_lab, "lan", "10.20.0.1", 5060, bad.encode(), source="10.20.0.10")
    assert answer is not None and answer.startswith(b"SIP/2.0 400")
    wait_json(sip_lab, "show sip", {"dropped": {"malformed": before + 4}})
    assert sip_lab.ctl("status")["state"] == "running"
    assert metric(sip_lab.metrics(), "outpost_sip_dropped_total", reason="malformed") == before + 4
    # Outside the LAN client subnets: no answer at all, counted.
    assert udp_exchange(sip_lab, "lan", "10.20.0.1", 5060, options_to_outpost().encode(), source="10.20.0.200",
                        timeout=0.5) is None
    assert sip_lab.ctl("show sip")["dropped"]["source_not_allowed"] >= 1


def test_call_from_the_vendor_to_a_registered_device(sip_lab):
    """dave registers from the LAN (SIPp); carol, at the vendor, calls him through Kamailio and
    hangs up (BYE from the vendor side)."""
    # SIPp ties a scenario to one Call-ID: register with one run, answer with another on the same port.
    r = sipp(sip_lab, "sipp_register_auth.xml", "-s", "dave", "-au", "dave", "-ap", "d4ve", "-set", "expires", "300",
             port=5068)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    wait_json(sip_lab, "show sip registrations", {"registrations": [
        {"aor": "sip:dave@vendor.example", "source": "10.20.0.10:5068"}]})
    device = sip_lab.start("lan", "sipp-dave", [
        "sipp", "-sf", f"{REPO}/{REPO_LAB}/sipp_uas.xml", "-i", "10.20.0.10", "-p", "5068", "-m", "1", "-nostdin",
        "-timeout", "40", "-timeout_error", "-trace_msg", "-message_file", f"{sip_lab.rundir}/dave-messages.log"])
    sip_lab.wait_until(lambda: sip_lab.listening("lan", "udp", "10.20.0.10", 5068), timeout=10, what="sipp dave")
    r = sipp(sip_lab, "sipp_vendor_uac.xml", "-s", "dave", "-d", "300", role="vendor", local="203.0.113.10",
             port=5072, remote="203.0.113.10:5060")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert device.wait(20) == 0, device.log_tail(30)
    trace = (sip_lab.rundir / "dave-messages.log").read_text()
    # The device got the call at its own contact, with outpost's LAN Record-Route and Via only.
    assert "INVITE sip:dave@10.20.0.10:5068;transport=UDP SIP/2.0" in trace, trace[-3000:]
    vias = [l for l in trace.splitlines() if l.startswith("Via:") and "10.20.0.1:5060" in l]
    assert vias and not any("203.0.113." in l for l in trace.splitlines() if l.startswith("Via:")), trace[-3000:]
    assert "Record-Route: <sip:10.20.0.1:5060;lr>" in trace
    # Nothing of the vendor's hops in any header the device received (INVITE, ACK, BYE).
    got = received_headers(sip_lab.rundir / "dave-messages.log")
    assert any(l.startswith("BYE sip:") and "10.20.0.10:5068" in l for l in got), got
    assert not [l for l in got if "203.0.113." in l], [l for l in got if "203.0.113." in l]
    for line in kamailio_seen(sip_lab, "INVITE") + kamailio_seen(sip_lab, "BYE"):
        assert "10.20.0." not in line, line


def test_cancel_from_the_vendor_while_the_device_rings(sip_lab):
    """carol calls dave (registered in the previous test) and cancels while it rings: the
    CANCEL goes on to the device, its 487 comes back, and outpost ACKs it hop by hop."""
    before = sip_lab.ctl("show sip")
    device = sip_lab.start("lan", "sipp-dave-ringing", [
        "sipp", "-sf", f"{REPO}/{REPO_LAB}/sipp_uas_ringing.xml", "-i", "10.20.0.10", "-p", "5068", "-m", "1",
        "-nostdin", "-timeout", "40", "-timeout_error", "-trace_msg", "-message_file",
        f"{sip_lab.rundir}/dave-ringing-messages.log"])
    sip_lab.wait_until(lambda: sip_lab.listening("lan", "udp", "10.20.0.10", 5068), timeout=10, what="sipp dave")
    r = sipp(sip_lab, "sipp_vendor_uac_cancel.xml", "-s", "dave", role="vendor", local="203.0.113.10", port=5074,
             remote="203.0.113.10:5060")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert device.wait(20) == 0, device.log_tail(30)
    trace = (sip_lab.rundir / "dave-ringing-messages.log").read_text()
    assert "CANCEL sip:dave@10.20.0.10:5068;transport=UDP SIP/2.0" in trace, trace[-3000:]
    assert "ACK sip:dave@10.20.0.10:5068;transport=UDP SIP/2.0" in trace, trace[-3000:]
    after = sip_lab.ctl("show sip")
    assert after["requests"]["CANCEL"] == before["requests"]["CANCEL"] + 1
    assert after["responses"]["4xx"] >= before["responses"]["4xx"] + 1


FLOOD = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.20.0.10", 5099))
s.settimeout(0.5)
for i in range(int(sys.argv[1])):
    s.sendto(("OPTIONS sip:10.20.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.20.0.10:5099;branch=z9hG4bKf%d\r\n"
              "Max-Forwards: 70\r\nFrom: <sip:f@10.20.0.10>;tag=1\r\nTo: <sip:10.20.0.1>\r\n"
              "Call-ID: flood%d\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n" % (i, i)).encode(),
             ("10.20.0.1", 5060))
answers = 0
try:
    while True:
        s.recv(65535)
        answers += 1
except socket.timeout:
    pass
print(answers)
"""


def test_a_flood_from_one_source_is_limited(sip_lab):
    """sip.rate_limit (lab default 100/s, burst 200) per LAN source: 1000 OPTIONS at once
    get at most about the burst answered, the rest is dropped and counted."""
    before = sip_lab.ctl("show sip")["dropped"]["rate_limited"]
    r = sip_lab.run("lan", ["/usr/bin/python3", "-c", FLOOD, "1000"], timeout=30)
    answers = int(r.stdout.strip())
    dropped = sip_lab.ctl("show sip")["dropped"]["rate_limited"] - before
    assert 0 < answers < 1000 and dropped > 0, (answers, dropped)
    assert sip_lab.ctl("status")["state"] == "running"
    time.sleep(2.5)  # let 10.20.0.10's bucket refill for the tests that follow (not an assertion)


def test_registrations_survive_a_restart(sip_lab):
    wait_json(sip_lab, "show sip registrations", {"registrations": [{"aor": "sip:alice@vendor.example"}]})
    sip_lab.stop("outpostd")
    sip_lab.start_outpostd()
    reply = wait_json(sip_lab, "show sip registrations", {"registrations": [
        {"aor": "sip:alice@vendor.example", "source": "10.20.0.10:5062"}]})
    assert reply["registrations"][0]["expires_in"] > 0


def test_failover_to_the_second_server(sip_lab):
    """vendor.example's SRV records list sip (first) and sip2; with sip down, a REGISTER
    times out there and is answered by sip2; the first server is blacklisted."""
    sip_lab.stop("outpostd")
    sip_lab.start_outpostd(sip_lab.config(vendor={"sip_servers": [{"host": "vendor.example", "transport": "udp"}]}))
    wait_json(sip_lab, "show sip", {"servers": [{"address": "203.0.113.10:5060"}, {"address": "203.0.113.11:5060"}]})
    sip_lab.stop("kamailio")
    try:
        answer = sip_request(sip_lab, "lan", "10.20.0.1", method="REGISTER", uri="sip:vendor.example",
                             source="10.20.0.10", headers=("Contact: <sip:erin@10.20.0.10:5090>",), timeout=8)
        assert answer is not None and answer.startswith("SIP/2.0 200"), answer
        assert "outpost-lab kamailio2" in answer, answer
        reply = wait_json(sip_lab, "show sip", {"servers": [{"address": "203.0.113.10:5060", "state": "blacklisted"},
                                                            {"address": "203.0.113.11:5060", "state": "usable"}]})
        assert reply["counters"]["failovers"] >= 1
        # Within the blacklist period new requests go to sip2 at once.
        answer = sip_request(sip_lab, "lan", "10.20.0.1", method="REGISTER", uri="sip:vendor.example",
                             source="10.20.0.10", headers=("Contact: <sip:erin@10.20.0.10:5090>",), timeout=1.5)
        assert answer is not None and "outpost-lab kamailio2" in answer, answer
    finally:
        sip_lab.start_kamailio(auth=USERS, uas=f"sip:{UAS}")
        sip_lab.stop("outpostd")
        sip_lab.start_outpostd()


def options_to_outpost():
    return ("OPTIONS sip:10.20.0.1 SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 10.20.0.10:5070;branch=z9hG4bK" + str(time.monotonic_ns()) + "\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:lab@10.20.0.10>;tag=1\r\nTo: <sip:10.20.0.1>\r\n"
            "Call-ID: " + str(time.monotonic_ns()) + "@lab\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
