"""TLS passthrough (dataplane/): browsers on the LAN reach the vendor's HTTPS hosts through
outpost (10.20.0.1:443 and :80) without outpost decrypting anything: the certificate chain
they verify is the vendor's own (the lab CA), and nginx in the vendor namespace sees the SNI
and the uplink address. Whatever is not for the vendor is reset and counted in
`outpostctl show tls --json`. Assertions are on bytes, names and counters, never timings."""
import hashlib
import time

import pytest

from helpers import PYTHON, assert_subset, metric, needs_root, wait_json

pytestmark = needs_root

OUTPOST = "10.20.0.1"


def curl(lab, name, path="/whoami", port=443, extra=(), scheme="https"):
    """curl from the LAN, with the vendor name pinned to outpost; (exit code, stdout bytes)."""
    argv = ["curl", "-sS", "--max-time", "20", "--resolve", f"{name}:{port}:{OUTPOST}", "--cacert",
            str(lab.ca_cert), *extra, f"{scheme}://{name}{'' if port in (80, 443) else f':{port}'}{path}"]
    r = lab.run("lan", argv, check=False, timeout=30)
    return r.returncode, r.stdout


def show_tls(lab):
    return lab.ctl("show", "tls")


def errors_now(lab):
    return show_tls(lab)["errors"]


def expect_error(lab, reason, before, more=1):
    """Waits until `show tls` has counted `more` new refusals for `reason`."""
    return wait_json(lab, "show tls", {"errors": {reason: before[reason] + more}})


# A client in the LAN namespace: sends bytes (hex) to outpost, optionally in two parts with
# a pause, and says how the connection ended: "reset", "closed" (FIN, nothing received) or
# "data <hex>".
_RAW = r"""
import socket, sys, time
host, port, first, second, pause, source = sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3]), \
    bytes.fromhex(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
s = socket.socket()
s.settimeout(15)
if source:
    s.bind((source, 0))
try:
    s.connect((host, port))
    if first:
        s.sendall(first)
    if pause:
        time.sleep(pause)
    if second:
        s.sendall(second)
    data = s.recv(65536)
    try:
        while data:
            more = s.recv(65536)
            if not more:
                break
            data += more
    except OSError:
        pass
    print("data " + data.hex() if data else "closed")
except ConnectionResetError:
    print("reset")
except BrokenPipeError:
    print("reset")
except socket.timeout:
    print("timeout")
"""


def raw(lab, payload=b"", port=443, second=b"", pause=0.0, source=""):
    r = lab.run("lan", [PYTHON, "-c", _RAW, OUTPOST, str(port), payload.hex(), second.hex(), str(pause), source],
                check=False, timeout=40)
    return r.stdout.strip() or r.stderr.strip()


# TLS by hand over a raw socket (ssl.MemoryBIO), so the client can half-close TCP after its
# request and keep reading: prints the sha256 of the HTTP body, or an error.
_HALF_CLOSE = r"""
import hashlib, socket, ssl, sys
host, name, ca, path = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
ctx.maximum_version = ssl.TLSVersion.TLSv1_2   # no post-handshake tickets to complicate the read loop
incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(incoming, outgoing, server_hostname=name)
sock = socket.create_connection((host, 443), timeout=15)
def flush():
    data = outgoing.read()
    if data:
        sock.sendall(data)
def feed():
    data = sock.recv(65536)
    if not data:
        incoming.write_eof()
    else:
        incoming.write(data)
    return bool(data)
while True:
    try:
        tls.do_handshake(); flush(); break
    except ssl.SSLWantReadError:
        flush(); feed()
tls.write(f"GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode()); flush()
sock.shutdown(socket.SHUT_WR)          # half-close: the request is all we send
body, alive = b"", True
while True:
    try:
        chunk = tls.read(65536)
        if not chunk:
            break
        body += chunk
    except ssl.SSLWantReadError:
        if not alive:
            break
        alive = feed()
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
        break
head, _, payload = body.partition(b"\r\n\r\n")
print(head.split(b"\r\n")[0].decode(), len(payload), hashlib.sha256(payload).hexdigest())
"""


def test_vendor_names_pass_through_with_the_vendors_certificate(lab):
    before = show_tls(lab)["counters"]["passed_through"]
    for name in ("www.vendor.example", "app.vendor.example"):
        code, out = curl(lab, name)  # --cacert: the chain is verified against the lab CA
        assert code == 0, f"curl {name}: exit {code}"
        assert out.strip() == name
    reply = wait_json(lab, "show tls", {"counters": {"passed_through": before + 2}})
    names = {row["name"]: row for row in reply["names"]}
    assert names["www.vendor.example"]["connections"] >= 1 and names["app.vendor.example"]["connections"] >= 1
    assert names["www.vendor.example"]["bytes_to_client"] > 0
    # The vendor saw the browser's SNI, coming from outpost's uplink address.
    log = (lab.rundir / "nginx" / "access.log").read_text()
    assert "198.51.100.1 sni=app.vendor.example host=app.vendor.example \"GET /whoami" in log


def test_a_large_download_arrives_intact(lab):
    want = hashlib.sha256(lab.www_files["4m.bin"].read_bytes()).hexdigest()
    r = lab.run("lan", f"curl -sS --max-time 30 --resolve www.vendor.example:443:{OUTPOST} --cacert {lab.ca_cert} "
                       "https://www.vendor.example/4m.bin | sha256sum", timeout=40)
    assert r.stdout.split()[0] == want
    assert show_tls(lab)["counters"]["bytes_to_client"] >= 4 << 20


def test_half_close_still_gets_the_whole_answer(lab):
    # 1k.bin: nginx itself stops sending a large file once it sees the client's FIN
    # ("client prematurely closed"), so a small answer that nginx writes at once is the
    # fair test of outpost carrying the other direction on after a FIN.
    want = hashlib.sha256(lab.www_files["1k.bin"].read_bytes()).hexdigest()
    closed_before = show_tls(lab)["counters"]["relays_closed"]
    r = lab.run("lan", [PYTHON, "-c", _HALF_CLOSE, OUTPOST, "www.vendor.example", str(lab.ca_cert), "/1k.bin"],
                check=False, timeout=40)
    assert r.stdout.split() == ["HTTP/1.1", "200", "OK", "1024", want], r.stderr
    # Both sides closed their direction: an orderly end, not a reset.
    wait_json(lab, "show tls", {"counters": {"relays_closed": closed_before + 1}})


def test_plain_http_on_port_80_follows_the_host_header(lab):
    code, out = curl(lab, "app.vendor.example", port=80, scheme="http")
    assert code == 0 and out.strip() == "app.vendor.example"
    before = errors_now(lab)
    assert raw(lab, b"GET / HTTP/1.1\r\nHost: www.evil.example\r\n\r\n", port=80) == "reset"
    expect_error(lab, "non_vendor_host", before)


def test_a_kept_alive_port_80_connection_stays_with_its_first_host(lab):
    # The policy (dataplane/README.md): the first request's Host picks the vendor host and the
    # connection is bound to it; later requests on it are not parsed and go to that same
    # host whatever their Host says, so a second request can never reach a non-vendor
    # address (no open proxy). app.vendor.example is alone on 203.0.113.21, www on .20: the
    # answer to the second request shows where it went.
    first = b"GET /whoami HTTP/1.1\r\nHost: app.vendor.example\r\n\r\n"
    second = b"GET /whoami HTTP/1.1\r\nHost: www.evil.example\r\nConnection: close\r\n\r\n"
    out = raw(lab, first, port=80, second=second, pause=0.3)
    assert out.startswith("data "), out
    answers = bytes.fromhex(out[5:]).decode()
    assert answers.count("HTTP/1.1 200") == 2 and answers.count("app.vendor.example\n") == 2, answers
    assert "www.vendor.example" not in answers


def test_no_sni_goes_to_the_default_host(lab):
    # The lab profile's vendor.default_host is www.vendor.example.
    code, out = curl(lab, OUTPOST, extra=["-k"])  # an IP address in the URL: curl sends no SNI
    assert code == 0 and out.strip() == "www.vendor.example"


def test_a_non_vendor_sni_is_reset_and_counted(lab):
    before = errors_now(lab)
    code, _ = curl(lab, "www.evil.example", extra=["-k"])
    assert code != 0
    expect_error(lab, "non_vendor_sni", before)
    assert "sni=www.evil.example" not in (lab.rundir / "nginx" / "access.log").read_text()


def test_garbage_bytes_are_reset_and_counted(lab):
    before = errors_now(lab)
    assert raw(lab, b"\x00\x01garbage that is not TLS\r\n") == "reset"
    expect_error(lab, "not_tls", before)
    before = errors_now(lab)
    assert raw(lab, bytes.fromhex("160301000a0200000603") + b"\x00" * 10) == "reset"  # a ServerHello
    expect_error(lab, "malformed_hello", before)


def test_a_slow_client_hello_is_cut_off_and_counted(lab):
    # The lab's tls.client_hello_timeout_ms is 1000: half a hello, then nothing.
    before = errors_now(lab)
    assert raw(lab, bytes.fromhex("16030102000100")) == "reset"
    expect_error(lab, "hello_timeout", before)


def test_clients_outside_the_lan_subnets_are_refused(lab):
    before = errors_now(lab)
    assert raw(lab, b"x", source="10.20.0.200") == "reset"  # outside lan.client_subnets
    expect_error(lab, "not_client", before)


def test_metrics_and_the_human_view(lab):
    text = lab.metrics()
    assert metric(text, "outpost_tls_passed_through_total") >= 1
    assert metric(text, "outpost_tls_refused_non_vendor_sni_total") >= 1
    assert metric(text, "outpost_tls_active_connections") is not None
    human = lab.ctl("show", "tls", json=False).stdout
    assert "www.vendor.example" in human and "non_vendor_sni" in human
    reply = show_tls(lab)
    assert_subset({"relay": "auto", "default_host": "www.vendor.example",
                   "wss": {"name": "wss.vendor.example", "handler": "none: passed through like any vendor name"},
                   "listeners": [{"address": "10.20.0.1:443", "kind": "https"},
                                 {"address": "10.20.0.1:80", "kind": "http"}]}, reply, "show tls")


def test_the_wss_name_passes_through_until_a_transport_takes_it(lab):
    code, out = curl(lab, "wss.vendor.example")
    assert code == 0 and out.strip() == "wss.vendor.example"


# A WebSocket client in the LAN (python3-websockets): wss://NAME/ws with NAME pinned to
# outpost, the chain verified against the lab CA; sends a text message and a 1 MiB binary
# one, prints whether each echo came back byte for byte, then closes with code 1000.
_WS_ECHO = r"""
import asyncio, hashlib, os, ssl, sys
import websockets
host, name, ca = sys.argv[1], sys.argv[2], sys.argv[3]
async def main():
    ctx = ssl.create_default_context(cafile=ca)
    async with websockets.connect(f"wss://{name}/ws", ssl=ctx, host=host, port=443, server_hostname=name,
                                  max_size=16 << 20, open_timeout=15, close_timeout=10) as ws:
        peer = ws.transport.get_extra_info("ssl_object").getpeercert()
        print("cert", dict(x[0] for x in peer["subject"]).get("commonName", "-"),
              ",".join(v for k, v in peer.get("subjectAltName", ()) if k == "DNS"))
        text = "hello through outpost \u00e9\u00e8 " * 10
        await ws.send(text)
        print("text", await asyncio.wait_for(ws.recv(), 15) == text)
        blob = os.urandom(1 << 20)
        await ws.send(blob)
        echo = await asyncio.wait_for(ws.recv(), 30)
        print("binary", type(echo) is bytes and len(echo) == len(blob) and echo == blob,
              hashlib.sha256(echo if isinstance(echo, bytes) else echo.encode()).hexdigest() ==
              hashlib.sha256(blob).hexdigest())
    print("closed", ws.close_code)
asyncio.run(main())
"""


def test_a_websocket_echo_through_the_passthrough(lab):
    # www.vendor.example, not the lab profile's vendor.wss_fqdn (wss.vendor.example): that
    # name is passed through only until the SIP WebSocket transport (media/WebRTC issue)
    # registers its WssHandler, after which outpost terminates it; a vendor web app's
    # WebSocket on an ordinary vendor name must stay end-to-end encrypted.
    name = "www.vendor.example"
    before = {row["name"]: row for row in show_tls(lab)["names"]}.get(
        name, {"connections": 0, "bytes_to_client": 0, "bytes_to_vendor": 0})
    counters = show_tls(lab)["counters"]
    ended_before = counters["relays_closed"] + counters["relays_reset"]
    r = lab.run("lan", [PYTHON, "-c", _WS_ECHO, OUTPOST, name, str(lab.ca_cert)], check=False, timeout=60)
    assert r.stdout.split("\n")[:4] == [f"cert {name} {name}", "text True", "binary True True", "closed 1000"], \
        r.stdout + r.stderr
    # Counted under its name once closed: one connection, over 1 MiB each way. The WebSocket
    # close handshake completed (code 1000 above); how TCP ends after it is the peers' affair:
    # nginx closes an upgraded connection at once, so the client's TLS close_notify racing
    # that close may come back as a reset, which outpost passes on as one.
    reply = wait_json(lab, "show tls", {"names": [{"name": name, "connections": before["connections"] + 1,
                                                   "active": 0}]})
    assert reply["counters"]["relays_closed"] + reply["counters"]["relays_reset"] == ended_before + 1
    row = {row["name"]: row for row in reply["names"]}[name]
    assert row["bytes_to_client"] - before["bytes_to_client"] > 1 << 20
    assert row["bytes_to_vendor"] - before["bytes_to_vendor"] > 1 << 20
    # nginx saw the upgrade on the vendor's side (101 Switching Protocols), from the uplink.
    log = (lab.rundir / "nginx" / "access.log").read_text()
    assert f"198.51.100.1 sni={name} host={name} \"GET /ws HTTP/1.1\" 101" in log


@pytest.mark.parametrize("relay", ["copy", "splice"])
def test_each_relay_engine_carries_a_large_download(lab, lab_config, relay):
    want = hashlib.sha256(lab.www_files["4m.bin"].read_bytes()).hexdigest()
    lab.write("outpost.yaml", lab.config(tls={"relay": relay}))
    try:
        assert lab.ctl("config", "reload")["ok"] is True
        wait_json(lab, "show tls", {"relay": relay})
        r = lab.run("lan", f"curl -sS --max-time 30 --resolve www.vendor.example:443:{OUTPOST} "
                           f"--cacert {lab.ca_cert} https://www.vendor.example/4m.bin | sha256sum", timeout=40)
        assert r.stdout.split()[0] == want
        r = lab.run("lan", [PYTHON, "-c", _HALF_CLOSE, OUTPOST, "www.vendor.example", str(lab.ca_cert), "/1k.bin"],
                    check=False, timeout=40)
        assert r.stdout.split()[:4] == ["HTTP/1.1", "200", "OK", "1024"], r.stderr
    finally:
        lab.write("outpost.yaml", lab_config)
        lab.ctl("config", "reload")


def test_limits_after_a_reload(lab, lab_config):
    """No default host (reset), a per-client rate of 2/s, HTTP redirected to https, and
    non-TLS bytes on 443 sent to a TURN target (nginx's port 80 stands in for it)."""
    lab.write("outpost.yaml", lab.config(vendor={"profile": None, "name": "Lab vendor",
                                                 "fqdns": ["vendor.example", "*.vendor.example"],
                                                 "prefixes": ["203.0.113.0/24"], "resolvers": ["203.0.113.53"],
                                                 "sip_servers": ["sip.vendor.example"],
                                                 "probe_targets": ["203.0.113.7:7"],
                                                 "turn": "203.0.113.21:80"},
                                         tls={"per_client_rate": 2, "http_policy": "redirect"}))
    try:
        assert lab.ctl("config", "reload")["ok"] is True
        wait_json(lab, "show tls", {"default_host": None, "limits": {"per_client_rate": 2}})
        turned = show_tls(lab)["counters"]["turn_forwarded"]
        answer = raw(lab, b"GET /whoami HTTP/1.0\r\nHost: app.vendor.example\r\n\r\n")
        assert answer.startswith("data ") and b"app.vendor.example" in bytes.fromhex(answer[5:])
        wait_json(lab, "show tls", {"counters": {"turn_forwarded": turned + 1}})
        time.sleep(1.1)  # let the rate limiter's bucket refill: not a timing assertion
        before = errors_now(lab)
        code, _ = curl(lab, OUTPOST, extra=["-k"])  # no SNI, and now no default host
        assert code != 0
        expect_error(lab, "no_sni", before)
        r = lab.run("lan", ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
                            "-H", "Host: app.vendor.example", f"http://{OUTPOST}/a?b=c"], check=False)
        assert r.stdout == "308 https://app.vendor.example/a?b=c"
        # Six connections in quick succession at 2/s: the first are admitted (and reset for
        # a malformed hello), the rest refused by the rate limit; all six are counted.
        before = errors_now(lab)
        results = [raw(lab, bytes.fromhex("1603010000")) for _ in range(6)]
        assert results == ["reset"] * 6
        after = lab.wait_until(lambda: (lambda e: e if e["rate_limited"] + e["malformed_hello"] ==
                                        before["rate_limited"] + before["malformed_hello"] + 6 else None)(
                                            errors_now(lab)), what="six refusals counted")
        assert after["rate_limited"] > before["rate_limited"]
    finally:
        lab.write("outpost.yaml", lab_config)
        lab.ctl("config", "reload")


_TWO_AT_ONCE = r"""
import socket, sys, time
first = socket.create_connection((sys.argv[1], 443), timeout=10)   # holds the only slot
time.sleep(0.3)
try:
    second = socket.create_connection((sys.argv[1], 443), timeout=10)
    print("data" if second.recv(100) else "closed")
except ConnectionResetError:
    print("reset")
"""


def test_max_connections_is_enforced_and_counted(lab, lab_config):
    lab.write("outpost.yaml", lab.config(tls={"max_connections": 1}))
    try:
        assert lab.ctl("config", "reload")["ok"] is True
        wait_json(lab, "show tls", {"limits": {"max_connections": 1}, "active": 0})
        before = errors_now(lab)
        r = lab.run("lan", [PYTHON, "-c", _TWO_AT_ONCE, OUTPOST], check=False, timeout=30)
        assert r.stdout.strip() == "reset", r.stderr
        expect_error(lab, "max_connections", before)
    finally:
        lab.write("outpost.yaml", lab_config)
        lab.ctl("config", "reload")
