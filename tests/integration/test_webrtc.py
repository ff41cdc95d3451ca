"""SIP over WebSocket (RFC 7118) through outpost, and a real browser call.

outpost terminates WSS for vendor.wss_fqdn (wss.vendor.example, a lab CA certificate) on
10.20.0.1:443, which the TLS passthrough shares, and relays SIP to the vendor's Kamailio
over UDP. Browsers use `.invalid` hosts in Via and Contact: requests to them must come back
over their own WebSocket.

1. A Python WebSocket agent (python3-websockets) in the `lan` namespace: REGISTER with
   digest auth (401, then 200) and OPTIONS; the vendor sees only outpost. An upgrade that
   does not offer the "sip" subprotocol is refused (400) and counted.
2. Two headless Chromium browsers with JsSIP (npm, bundled with esbuild, driven by
   puppeteer-core): alice in the `lan` namespace registers over WSS to outpost and calls
   bob, who is registered directly on the vendor's Kamailio over WebSocket from a
   namespace behind the vendor (203.0.113.98, reachable from outpost's uplink only). Asserts
   the SDP each browser got names outpost (LAN address towards alice, uplink address
   towards bob, no mDNS or LAN candidates at the vendor), ICE connected on both sides,
   audio packets both ways in each browser's getStats, and both directions in outpost's
   relay counters (the call record).

Needs chromium, libnss3-tools and kamailio-websocket-modules (Debian packages) and npm with registry access (packages are installed once
into /var/cache/outpost-test/npm/<hash of tests/lab/webrtc/package.json>); skipped with the
reason otherwise. Asserts on messages, SDP and counters, never on timings.
"""
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

from helpers import PYTHON, REPO, wait_json
from test_media import cdr_rows

WEBRTC = REPO / "tests" / "lab" / "webrtc"
NPM_CACHE = Path(os.environ.get("OUTPOST_NPM_CACHE", "/var/cache/outpost-test/npm"))
CHROMIUM = "/usr/bin/chromium"
WSS_NAME = "wss.vendor.example"
KAMAILIO_WS_PORT = 8080
USERS = {"alice": "secret", "bob": "b0b-secret"}
# The callee browser's own namespace behind the vendor: only outpost's uplink reaches it.
CALLEE_LINK = ("203.0.113.97/30", "203.0.113.98/30")
MIN_PACKETS = 50  # audio packets each browser must count both ways (1 s of 20 ms frames)
# The caller hangs up after twice as many: the callee samples its stats every 250 ms.
HANGUP_PACKETS = 2 * MIN_PACKETS


def messages_of(output):
    """The WebSocket client's log: [(direction, text)]."""
    return [(k, v) for m in json.loads(output)["messages"] for k, v in m.items()]


KAMAILIO_WEBSOCKET = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules/websocket.so")


@pytest.fixture(scope="module")
def wss_lab(lab):
    cert, key = lab.make_cert(WSS_NAME)
    lab.stop("kamailio")
    lab.start_kamailio(auth=USERS, websocket=KAMAILIO_WS_PORT if KAMAILIO_WEBSOCKET.exists() else None)
    lab.stop("outpostd")
    lab.start_outpostd(lab.config(tls={"wss_certificate": str(cert), "wss_key": str(key)}))
    wait_json(lab, "show sip", {"servers": [{"address": "203.0.113.10:5060", "state": "usable"}]})
    return lab


def ws_client(lab, **overrides):
    cfg = {"name": WSS_NAME, "address": "10.20.0.1", "ca": str(lab.ca_cert), "user": "alice",
           "password": USERS["alice"], "domain": "vendor.example", **overrides}
    return lab.run("lan", [PYTHON, str(WEBRTC / "ws_sip_client.py"), json.dumps(cfg)], check=False, timeout=60)


def test_register_and_options_over_wss(wss_lab):
    lab = wss_lab
    r = ws_client(lab)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["subprotocol"] == "sip"
    got = [text for d, text in messages_of(r.stdout) if d == "received"]
    assert [g.split("\r\n", 1)[0] for g in got] == ["SIP/2.0 401 Unauthorized", "SIP/2.0 200 OK", "SIP/2.0 200 OK"], got
    # The browser gets its own Via back (WSS, .invalid host), and nothing of the vendor's.
    for g in got:
        vias = re.findall(r"^Via: (.*)$", g, re.M)
        assert len(vias) == 1 and vias[0].startswith("SIP/2.0/WSS ") and ".invalid" in vias[0], g
        assert "203.0.113." not in g and "198.51.100." not in g, g
    assert re.search(r"^Contact: .*expires=\d+", got[1], re.M), got[1]

    # What the vendor saw: outpost's uplink Via and contact, never .invalid or LAN addresses.
    seen = [line for line in lab.peer("kamailio").log_text().splitlines() if "seen REGISTER" in line]
    assert seen, "Kamailio saw no REGISTER"
    for line in seen[-2:]:
        assert "SIP/2.0/UDP 198.51.100.1" in line and "@198.51.100.1" in line, line
        assert ".invalid" not in line and "10.20.0." not in line, line

    regs = lab.ctl("show sip registrations")["registrations"]
    assert any(x["aor"].startswith("sip:alice@") and x["transport"] == "wss" for x in regs), regs
    row = [t for t in lab.ctl("show sip")["transports"] if t["transport"] == "wss"]
    assert row and row[0]["address"] == "10.20.0.1:443" and row[0]["received"] >= 3, row
    assert lab.ctl("show tls")["counters"]["wss_handed_over"] >= 1


def test_upgrade_without_sip_subprotocol_is_refused(wss_lab):
    lab = wss_lab
    before = lab.ctl("show sip")["dropped"]["ws_handshake"]
    r = ws_client(lab, subprotocols=["chat"])
    assert r.returncode == 2, r.stdout + r.stderr
    assert json.loads(r.stdout)["refused"] == 400
    assert lab.ctl("show sip")["dropped"]["ws_handshake"] == before + 1


# ---- the browsers ----------------------------------------------------------------------

def node_modules():
    """tests/lab/webrtc/package.json installed in the cache (once per content), or a skip."""
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (Debian package `chromium`)")
    if not shutil.which("npm") or not shutil.which("node"):
        pytest.skip("node/npm are not installed")
    spec = (WEBRTC / "package.json").read_bytes()
    folder = NPM_CACHE / hashlib.sha256(spec).hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # concurrent test runs install once
        if not (folder / ".installed").exists():
            (folder / "package.json").write_bytes(spec)
            env = {**os.environ, "PUPPETEER_SKIP_DOWNLOAD": "1"}
            r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=folder,
                               env=env, capture_output=True, text=True, timeout=600)
            if r.returncode != 0:
                pytest.skip(f"npm install failed (no registry?): {r.stderr.strip()[-500:]}")
            (folder / ".installed").write_text("ok\n")
    return folder / "node_modules"


@contextmanager
def callee_namespace(lab):
    """A namespace behind the vendor (veth to it, 203.0.113.98) for the callee's browser:
    Chromium ignores loopback addresses, and the vendor's links are not outpost's to reach."""
    ns, vendor = f"{lab.prefix}-vbrowser", lab.ns("vendor")
    sh = lambda *argv: subprocess.run(argv, check=True, capture_output=True, text=True)  # noqa: E731
    sh("ip", "netns", "add", ns)
    try:
        sh("ip", "-n", vendor, "link", "add", "vb0", "type", "veth", "peer", "name", "vb1", "netns", ns)
        sh("ip", "-n", vendor, "addr", "add", CALLEE_LINK[0], "dev", "vb0")
        sh("ip", "-n", vendor, "link", "set", "vb0", "up")
        sh("ip", "-n", ns, "addr", "add", CALLEE_LINK[1], "dev", "vb1")
        sh("ip", "-n", ns, "link", "set", "vb1", "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", ns, "route", "add", "default", "via", CALLEE_LINK[0].split("/")[0])
        sh("ip", "netns", "exec", vendor, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        yield ns
    finally:
        for pid in subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split():
            try:
                os.kill(int(pid), 9)  # only what we started runs in our own namespace
            except OSError:
                pass
        subprocess.run(["ip", "-n", vendor, "link", "del", "vb0"], capture_output=True)
        subprocess.run(["ip", "netns", "exec", vendor, "sysctl", "-qw", "net.ipv4.ip_forward=0"], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def trust_lab_ca(home, ca):
    """An NSS db in the browser's HOME with the lab CA: Chromium verifies chain and name."""
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True, exist_ok=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{db}", "--empty-password"], check=True, capture_output=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{db}", "-n", "outpost lab CA", "-t", "C,,", "-i", str(ca)],
                   check=True, capture_output=True)


def start_browser(lab, role, name, modules, argv_prefix=(), **cfg):
    workdir = lab.rundir / name
    workdir.mkdir()
    if shutil.which("certutil"):
        trust_lab_ca(workdir, lab.ca_cert)
    cfg = {"modules": str(modules), "workdir": str(workdir), "hangup_packets": HANGUP_PACKETS, "hold_ms": 15000,
           "deadline_ms": 90000, "debug": False, **cfg}
    path = lab.write(f"{name}.json", json.dumps(cfg))
    return lab.start(role, name, [*argv_prefix, "node", str(WEBRTC / "agent.js"), path])


def events(peer):
    out = []
    for line in peer.log_text().splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def one(evs, name, **match):
    found = [e for e in evs if e["event"] == name and all(e.get(k) == v for k, v in match.items())]
    assert found, f"no {name} {match} in {[e['event'] for e in evs]}"
    return found[-1]


def candidates(sdp):
    return re.findall(r"^a=candidate:\S+ \d+ \S+ \d+ (\S+) (\d+) typ (\S+)", sdp, re.M)


def test_browser_calls_browser_through_outpost(wss_lab):
    lab = wss_lab
    modules = node_modules()
    if not shutil.which("certutil"):
        pytest.skip("certutil is not installed (Debian package `libnss3-tools`)")
    if not KAMAILIO_WEBSOCKET.exists():
        pytest.skip("Kamailio's websocket module is not installed (Debian package `kamailio-websocket-modules`)")
    records_before = lab.ctl("show sip")["counters"]["call_records"]
    with callee_namespace(lab) as ns:
        bob = start_browser(lab, "vendor", "browser-bob", modules, argv_prefix=("ip", "netns", "exec", ns),
                            ws=f"ws://203.0.113.10:{KAMAILIO_WS_PORT}", uri="sip:bob@vendor.example",
                            password=USERS["bob"])
        try:
            lab.wait_ready(bob, lambda: any(e["event"] == "registered" for e in events(bob)), timeout=30,
                           what="bob's browser registered at the vendor")
            alice = start_browser(lab, "lan", "browser-alice", modules, ws=f"wss://{WSS_NAME}/",
                                  resolve=f"MAP {WSS_NAME} 10.20.0.1", uri="sip:alice@vendor.example",
                                  password=USERS["alice"], target="sip:bob@vendor.example")
            code = alice.wait(100)
            a = events(alice)
            assert code == 0, alice.log_tail(30)
            assert bob.wait(20) == 0, bob.log_tail(30)
        finally:
            lab.stop("browser-bob")
            if "browser-alice" in lab.peers:
                lab.stop("browser-alice")
    b = events(bob)

    one(a, "registered")
    one(a, "confirmed")
    one(b, "confirmed")
    # Signalling: alice sees outpost's LAN address only; bob (the vendor side) sees outpost's
    # uplink address only: no LAN or mDNS candidates cross.
    answer = one(a, "sdp", originator="remote", type="answer")["sdp"]
    assert re.search(r"^c=IN IP4 10\.20\.0\.1\r?$", answer, re.M), answer
    assert {c[0] for c in candidates(answer)} == {"10.20.0.1"}, answer
    offer = one(b, "sdp", originator="remote", type="offer")["sdp"]
    assert re.search(r"^c=IN IP4 198\.51\.100\.1\r?$", offer, re.M), offer
    assert {c[0] for c in candidates(offer)} == {"198.51.100.1"}, offer
    assert "10.20.0." not in offer and ".local" not in offer, offer
    # ... on relay ports from the configured ranges (LAN 10000-20000, uplink 30000-40000).
    assert 10000 <= int(re.search(r"^m=audio (\d+)", answer, re.M).group(1)) <= 20000, answer
    assert 30000 <= int(re.search(r"^m=audio (\d+)", offer, re.M).group(1)) <= 40000, offer
    # ICE through the relay on both sides, and audio both ways in each browser.
    for who, evs, remote in (("alice", a, "10.20.0.1"), ("bob", b, "198.51.100.1")):
        stats = [e for e in evs if e["event"] == "stats"]
        assert stats, f"{who}: no stats"
        best = max(stats, key=lambda s: min(s["sent"], s["received"]))
        assert best["ice"] in ("connected", "completed"), (who, best)
        assert best["pair"] and best["pair"]["remote"].startswith(remote + ":"), (who, stats[-6:], lab.ctl("show media").get("counters"))
        assert best["sent"] >= MIN_PACKETS and best["received"] >= MIN_PACKETS, (who, best)
    # alice hung up: her BYE reached bob through outpost and the vendor.
    one(a, "hangup")
    assert one(b, "ended")["originator"] == "remote"

    # outpost's relay counted both directions; the vendor never saw a LAN address.
    lab.wait_until(lambda: lab.ctl("show sip")["counters"]["call_records"] == records_before + 1, timeout=15,
                   what="the call record")
    row = cdr_rows(lab)[-1]
    assert row["disposition"] == "answered", row
    assert int(row["packets_to_vendor"]) >= MIN_PACKETS and int(row["packets_to_lan"]) >= MIN_PACKETS, row
    seen = [ln for ln in lab.peer("kamailio").log_text().splitlines() if "seen INVITE" in ln or "seen BYE" in ln]
    from_outpost = [ln for ln in seen if "198.51.100.1" in ln]
    assert from_outpost, seen
    for ln in from_outpost:
        assert "10.20.0." not in ln and ".invalid" not in ln.split("via=")[1].split("contact=")[0], ln
