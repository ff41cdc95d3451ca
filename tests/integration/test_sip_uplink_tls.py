"""SIP to the vendor over TLS and over WSS (issues 5 and 6), in the lab with real peers:
Kamailio as the vendor's registrar and proxy with its tls module (the lab CA's certificate
for sip.vendor.example; TLS on 5061, WSS on 8443 with the websocket module), SIPp as LAN
devices on UDP and as a vendor-side caller, a SIPp UAS behind Kamailio.

outpost is the client: it opens one connection from 198.51.100.1:5061 (its TLS port, shared
with SO_REUSEPORT), checks the certificate against sip.uplink_ca and the server's name, and
names that address in Via, Record-Route and Contact, so Kamailio's requests to outpost (a
call to a registered device, a BYE from the vendor side) come back over the same connection:
outpost has no listener there, so a call that completes proves it.

Asserts on Kamailio's log (protocol and source of each request, Via/Contact/Record-Route),
on SIPp's verdict and on `show sip` counters; never on timings.
"""
import pytest

from helpers import REPO, sip_request, sipp_client as sipp, wait_json

UAS_PORT = 5070
USERS = {"alice": "secret", "dave": "d4ve"}
WSS_PORT = 8443


def vendor(server):
    """A vendor section without the profile (whose server is UDP): one server, `server`."""
    return {"profile": None, "fqdns": ["vendor.example", "*.vendor.example"], "prefixes": ["203.0.113.0/24"],
            "resolvers": ["203.0.113.53"], "probe_targets": ["203.0.113.7:7"], "sip_servers": [server]}


def kamailio_lines(lab, needle):
    return [l for l in lab.peer("kamailio").log_text().splitlines() if needle in l]


def options_through_outpost(lab, timeout=8):
    """OPTIONS to the vendor's domain (Kamailio answers it itself: 200) from a LAN device
    through outpost: (the answer, how many more such OPTIONS Kamailio saw over TLS)."""
    needle = "OPTIONS sip:vendor.example from 198.51.100.1:5061 (tls)"
    seen = len(kamailio_lines(lab, needle))
    answer = sip_request(lab, "lan", "10.20.0.1", uri="sip:vendor.example", source="10.20.0.10", timeout=timeout)
    return answer, len(kamailio_lines(lab, needle)) - seen


def uplink_client(lab):
    rows = [t for t in lab.ctl("show sip")["transports"] if t["transport"] == "tls/wss client"]
    assert len(rows) == 1, lab.ctl("show sip")["transports"]
    return rows[0]


@pytest.fixture(scope="module")
def tls_lab(lab):
    lab.stop("kamailio")
    lab.start_kamailio(auth=USERS, uas=f"sip:203.0.113.10:{UAS_PORT}", tls={"name": "sip.vendor.example",
                                                                             "wss": WSS_PORT})
    lab.start("vendor", "sipp-uas", ["sipp", "-sf", f"{REPO}/tests/lab/sipp_uas.xml", "-i", "203.0.113.10",
                                     "-p", str(UAS_PORT), "-nostdin"])
    lab.wait_until(lambda: lab.listening("vendor", "udp", "203.0.113.10", UAS_PORT), timeout=10, what="sipp uas")
    yield lab


def start_outpost(lab, server, **sip):
    lab.stop("outpostd")
    lab.start_outpostd(lab.config(vendor=vendor(server), sip={"uplink_ca": str(lab.ca_cert), **sip}))


@pytest.mark.parametrize("transport,port,via", [("tls", 5061, "TLS"), ("wss", WSS_PORT, "WSS")])
def test_register_and_calls_both_ways_over_one_secure_connection(tls_lab, transport, port, via):
    lab = tls_lab
    start_outpost(lab, {"host": "sip.vendor.example", "transport": transport, "port": port})
    wait_json(lab, "show sip", {"servers": [{"address": f"203.0.113.10:{port}", "transport": transport,
                                             "state": "usable"}]})
    # dave registers from the LAN over UDP; outpost relays it over TLS/WSS with digest auth.
    device_port = 5068 if transport == "tls" else 5078
    r = sipp(lab, "sipp_register_auth.xml", "-s", "dave", "-au", "dave", "-ap", "d4ve", "-set", "expires", "300",
             port=device_port)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    registers = [l for l in kamailio_lines(lab, "seen REGISTER") if f"SIP/2.0/{via} 198.51.100.1:5061" in l]
    assert registers and all("10.20.0." not in l for l in registers), kamailio_lines(lab, "seen REGISTER")
    assert kamailio_lines(lab, f"REGISTER sip:vendor.example from 198.51.100.1:5061 ({transport})")

    # alice calls bob (the UAS behind Kamailio) and hangs up: outpost's uplink Record-Route
    # names its TLS/WSS address, the ACK and BYE follow it.
    r = sipp(lab, "sipp_uac_auth.xml", "-s", "bob", "-au", "alice", "-ap", "secret", "-set", "caller", "alice",
             "-d", "200", port=device_port + 1)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    uri_transport = "tls" if transport == "tls" else "ws"
    invites = [l for l in kamailio_lines(lab, "seen INVITE") if f"SIP/2.0/{via} 198.51.100.1:5061" in l]
    assert any(f"<sip:198.51.100.1:5061;transport={uri_transport};lr>" in l for l in invites), invites
    assert kamailio_lines(lab, f"from 198.51.100.1:5061 ({transport})")

    # carol, at the vendor, calls dave and hangs up: Kamailio reaches outpost over the
    # connection outpost opened (there is nothing listening on 198.51.100.1:5061).
    device = lab.start("lan", f"sipp-dave-{transport}", [
        "sipp", "-sf", f"{REPO}/tests/lab/sipp_uas.xml", "-i", "10.20.0.10", "-p", str(device_port), "-m", "1",
        "-nostdin", "-timeout", "40", "-timeout_error"])
    lab.wait_until(lambda: lab.listening("lan", "udp", "10.20.0.10", device_port), timeout=10, what="sipp dave")
    r = sipp(lab, "sipp_vendor_uac.xml", "-s", "dave", "-d", "300", role="vendor", local="203.0.113.10",
             port=5072, remote="203.0.113.10:5060")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert device.wait(20) == 0, device.log_tail(30)

    client = uplink_client(lab)
    assert client["address"] == "198.51.100.1:5061", client
    assert client["opened"] == 1 and client["connections"] == 1, client  # everything over one connection
    assert client["handshake_failures"] == 0 and client["ephemeral_ports"] == 0, client
    assert client["received"] >= 5, client  # at least: 401 and 200 to REGISTER, carol's INVITE, ACK and BYE
    wait_json(lab, "show sip", {"counters": {"calls_answered": 2}})


def test_a_certificate_that_does_not_match_the_server_is_refused(tls_lab):
    """The server named by its address: the certificate (DNS:sip.vendor.example only) does not
    match it, the handshake fails and is counted, nothing is sent. With uplink_verify off the
    same server is used."""
    lab = tls_lab
    server = {"host": "203.0.113.10", "transport": "tls", "port": 5061}
    start_outpost(lab, server)
    answer, seen = options_through_outpost(lab, timeout=1)
    wait_json(lab, "show sip", {"transports": [{"transport": "tls/wss client", "handshake_failures": 1}],
                                "dropped": {"tls_handshake": 1}})
    assert seen == 0

    start_outpost(lab, server, uplink_verify=False)
    answer, seen = options_through_outpost(lab)
    assert answer is not None and answer.startswith("SIP/2.0 200"), answer
    assert seen == 1
    assert uplink_client(lab)["handshake_failures"] == 0


def test_naptr_chooses_tls_for_a_server_with_transport_auto(tls_lab):
    """secure.vendor.example's NAPTR records list SIPS+D2T before SIP+D2U: with
    `transport: auto` outpost takes TLS to the SRV target (sip.vendor.example:5061), whose
    name the certificate check uses."""
    lab = tls_lab
    start_outpost(lab, {"host": "secure.vendor.example", "transport": "auto"})
    wait_json(lab, "show sip", {"servers": [{"name": "sip.vendor.example", "address": "203.0.113.10:5061",
                                             "transport": "tls", "state": "usable"}]})
    answer, seen = options_through_outpost(lab)
    assert answer is not None and answer.startswith("SIP/2.0 200"), answer
    assert seen == 1
    assert uplink_client(lab)["handshake_failures"] == 0


def test_a_server_that_refuses_the_connection_is_skipped_for_the_next(tls_lab):
    """Two servers: the first (203.0.113.11, the second Kamailio, which has no TLS) refuses
    the connection, the second is Kamailio by name. The request fails over (counted, the first
    server blacklisted) and is answered through the second."""
    lab = tls_lab
    lab.stop("outpostd")
    servers = [{"host": "203.0.113.11", "transport": "tls", "port": 5061},
               {"host": "sip.vendor.example", "transport": "tls", "port": 5061}]
    lab.start_outpostd(lab.config(vendor={**vendor(servers[0]), "sip_servers": servers},
                                  sip={"uplink_ca": str(lab.ca_cert)}))
    wait_json(lab, "show sip", {"servers": [{"address": "203.0.113.11:5061"}, {"address": "203.0.113.10:5061"}]})
    before = lab.ctl("show sip")["counters"]["failovers"]
    answer, seen = options_through_outpost(lab)
    assert answer is not None and answer.startswith("SIP/2.0 200"), answer
    assert seen == 1
    show = lab.ctl("show sip")
    assert show["counters"]["failovers"] == before + 1, show["counters"]
    assert [s["state"] for s in show["servers"]] == ["blacklisted", "usable"], show["servers"]
