"""The lab's own sanity: the topology is what the contract says, the vendor's peers answer,
labs do not collide, and teardown leaves nothing behind."""
import hashlib
import os
import re
import subprocess
from pathlib import Path

import pytest

from helpers import (PYTHON, REPO, Lab, LabError, build_dir, dig, needs_root, sip_request, tcp_connect,
                     udp_exchange)

pytestmark = needs_root

LAB_CLI = REPO / "tests" / "lab" / "lab.py"


def addresses(lab, role):
    r = lab.run(role, ["ip", "-o", "-4", "addr", "show"])
    return {line.split()[3] for line in r.stdout.splitlines()}


def test_namespaces_carry_the_contract_addresses(lab):
    assert {"10.20.0.10/24", "10.20.0.200/24"} <= addresses(lab, "lan")
    assert {"10.20.0.1/24", "198.51.100.1/30", "192.0.2.1/30", "127.0.0.1/8"} <= addresses(lab, "outpost")
    assert {"198.51.100.2/30", "198.51.100.5/30"} <= addresses(lab, "wanp")
    assert {"192.0.2.2/30", "192.0.2.5/30"} <= addresses(lab, "inet")
    assert {"198.51.100.6/30", "192.0.2.6/30", "203.0.113.10/32", "203.0.113.11/32", "203.0.113.53/32",
            "203.0.113.20/32", "203.0.113.21/32", "203.0.113.7/32", "203.0.113.30/32"} <= addresses(lab, "vendor")


def test_no_default_route_anywhere(lab):
    for role in ("lan", "outpost", "wanp", "inet", "vendor"):
        assert lab.run(role, ["ip", "route", "show", "default"]).stdout.strip() == "", role


def test_lan_cannot_reach_the_vendor(lab):
    r = lab.run("lan", ["ip", "route", "get", "203.0.113.10"], check=False)
    assert r.returncode != 0 and "unreachable" in r.stderr
    assert tcp_connect(lab, "lan", "203.0.113.20", 443) == "unreachable"
    assert udp_exchange(lab, "lan", "203.0.113.7", 7, b"from the lan") is None


def test_vendor_cannot_reach_the_lan(lab):
    r = lab.run("vendor", ["ip", "route", "get", "10.20.0.10"], check=False)
    assert r.returncode != 0 and "unreachable" in r.stderr


def test_outpost_reaches_the_vendor_over_the_primary_uplink(lab):
    route = lab.run("outpost", ["ip", "route", "get", "203.0.113.10"]).stdout
    assert "via 198.51.100.2 dev wanp0" in route and "src 198.51.100.1" in route
    assert tcp_connect(lab, "outpost", "203.0.113.10", 5060) == "connected"
    # The probe target and the media echo send every datagram back.
    assert udp_exchange(lab, "outpost", "203.0.113.7", 7, b"probe 1") == b"probe 1"
    assert udp_exchange(lab, "outpost", "203.0.113.30", 16400, b"\x80\x00rtp") == b"\x80\x00rtp"
    assert udp_exchange(lab, "outpost", "203.0.113.30", 16483, b"last") == b"last"


def test_outpost_reaches_the_vendor_internet_side(lab):
    assert tcp_connect(lab, "outpost", "192.0.2.6", 9) == "refused"  # a reset from the vendor


def test_nsd_answers_for_vendor_example(lab):
    assert dig(lab, "outpost", "203.0.113.53", "sip.vendor.example") == ["203.0.113.10"]
    assert dig(lab, "outpost", "203.0.113.53", "www.vendor.example") == ["203.0.113.20"]
    assert sorted(dig(lab, "outpost", "203.0.113.53", "_sip._udp.vendor.example", "SRV")) == [
        "10 50 5060 sip.vendor.example.", "20 50 5060 sip2.vendor.example."]
    r = lab.run("outpost", ["dig", "+time=2", "+tries=1", "@203.0.113.53", "nope.vendor.example"])
    assert "status: NXDOMAIN" in r.stdout


def test_nginx_serves_https_with_the_lab_ca(lab):
    def curl(host, path, *extra):
        address = {"www.vendor.example": "203.0.113.20", "app.vendor.example": "203.0.113.21"}[host]
        return lab.run("outpost", ["curl", "-sS", "--max-time", "5", "--resolve", f"{host}:443:{address}",
                                   *extra, f"https://{host}{path}"], check=False)
    for host in ("www.vendor.example", "app.vendor.example"):
        r = curl(host, "/whoami", "--cacert", lab.ca_cert)
        assert r.returncode == 0 and r.stdout == f"{host}\n", r.stderr
    big = lab.run("outpost", f"curl -sS --max-time 10 --cacert {lab.ca_cert} --resolve app.vendor.example:443:"
                             f"203.0.113.21 https://app.vendor.example/4m.bin | sha256sum").stdout.split()[0]
    assert big == hashlib.sha256(lab.www_files["4m.bin"].read_bytes()).hexdigest()
    assert lab.www_files["1k.bin"].stat().st_size == 1024
    assert curl("www.vendor.example", "/whoami").returncode == 60  # not trusted without the lab CA
    log = (lab.rundir / "nginx" / "access.log").read_text()
    assert "198.51.100.1 sni=app.vendor.example" in log  # the vendor saw outpost's uplink address


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_kamailio_answers_options(lab, proto):
    for address, server in (("203.0.113.10", "kamailio"), ("203.0.113.11", "kamailio2")):
        reply = sip_request(lab, "outpost", address, "OPTIONS", source="198.51.100.1", proto=proto)
        assert reply is not None and reply.startswith("SIP/2.0 200 OK"), reply
        assert f"Server: outpost-lab {server}\r\n" in reply


def test_kamailio_registers_a_contact(lab):
    reply = sip_request(lab, "outpost", "203.0.113.10", "REGISTER", uri="sip:vendor.example",
                        source="198.51.100.1", headers=("Contact: <sip:agent1@198.51.100.1:5070>",))
    assert reply.startswith("SIP/2.0 200 OK") and "agent1@198.51.100.1:5070" in reply, reply


def test_kamailio_with_digest_auth(lab):
    lab.run("vendor", ["ip", "addr", "replace", "203.0.113.12/32", "dev", "lo"])
    lab.start_kamailio(listen=("203.0.113.12",), name="kamailio-auth", auth={"alice": "s3cret"})
    try:
        def register(*headers):
            return sip_request(lab, "outpost", "203.0.113.12", "REGISTER", uri="sip:vendor.example",
                               source="198.51.100.1", headers=("Contact: <sip:alice@198.51.100.1:5070>",
                                                               *headers))
        challenge = register()
        assert challenge.startswith("SIP/2.0 401"), challenge
        nonce = re.search(r'nonce="([^"]+)"', challenge).group(1)
        assert 'realm="vendor.example"' in challenge

        def authorization(password):
            ha1 = hashlib.md5(f"alice:vendor.example:{password}".encode()).hexdigest()
            ha2 = hashlib.md5(b"REGISTER:sip:vendor.example").hexdigest()
            response = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
            return (f'Authorization: Digest username="alice", realm="vendor.example", nonce="{nonce}", '
                    f'uri="sip:vendor.example", response="{response}", algorithm=MD5')
        assert register(authorization("wrong")).startswith("SIP/2.0 401")
        assert register(authorization("s3cret")).startswith("SIP/2.0 200 OK")
    finally:
        lab.stop("kamailio-auth")


def test_sipp_gets_200_for_options(lab):
    r = lab.run("outpost", ["sipp", "203.0.113.11:5060", "-sf", REPO / "tests" / "lab" / "sipp_options.xml",
                            "-i", "198.51.100.1", "-p", "15090", "-m", "1", "-nostdin", "-timeout", "10"],
                check=False, timeout=30)
    assert r.returncode == 0, (r.stdout[-2000:] + r.stderr)


def test_lab_config_is_valid_and_overridable(lab):
    outpostd = lab.binary("outpostd")
    profiles = REPO / "daemon" / "profiles"
    for name, text in (("plain", lab.config()),
                       ("override", lab.config(dns={"forwarders": ["10.20.0.53"]}, uplinks=None))):
        path = lab.write(f"check/{name}.yaml", text)
        r = lab.run("outpost", [outpostd, "--check-config", "-c", path, "--profile-dir", profiles], check=False)
        assert r.returncode == 0, f"{name}: {r.stderr}"


def test_two_labs_at_once_do_not_collide(lab):
    with Lab(build_dir=build_dir()) as other:
        assert other.prefix != lab.prefix and other.rundir != lab.rundir
        assert other.ns("outpost") != lab.ns("outpost")
        other.start_udp_echo("vendor", "203.0.113.7", 7, "probe-echo")
        # The same addresses live in both labs; each answers within its own.
        assert udp_exchange(other, "outpost", "203.0.113.7", 7, b"other") == b"other"
        assert udp_exchange(lab, "outpost", "203.0.113.7", 7, b"first") == b"first"
        other.up()  # idempotent on an existing lab
        assert udp_exchange(other, "outpost", "203.0.113.7", 7, b"again") == b"again"
    assert not other.rundir.exists()
    assert lab.ctl("status")["state"] == "running"


def netns_names():
    return set(subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split())


def test_down_leaves_nothing_behind():
    extra = Lab(build_dir=build_dir())
    extra.up()
    try:
        started = extra.start_vendor()
        pids = [p.pid for p in started.values()]
        ours = {extra.ns(r) for r in ("lan", "outpost", "wanp", "inet", "vendor")}
        assert ours <= netns_names()
        vendor_pids = netns_pids(extra.ns("vendor"))
        assert len(vendor_pids) > len(pids)  # Kamailio, NSD and nginx fork workers
    finally:
        extra.down()
    assert not (ours & netns_names())
    assert not extra.rundir.exists()
    for pid in vendor_pids:
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid), f"pid {pid} survived down()"
    extra.down()  # safe to repeat


def netns_pids(ns):
    return [int(p) for p in subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()]


def _zombie(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except OSError:
        return True


def test_cli_up_status_down():
    env = {**os.environ, "OUTPOST_BUILD": build_dir()}
    up = subprocess.run([PYTHON, LAB_CLI, "up", "--vendor"], capture_output=True, text=True, env=env, timeout=60)
    assert up.returncode == 0, up.stderr
    prefix = up.stdout.split()[1].rstrip(":")
    try:
        status = subprocess.run([PYTHON, LAB_CLI, "status", "--prefix", prefix], capture_output=True, text=True)
        assert "namespaces lan, outpost, wanp, inet, vendor" in status.stdout
        assert "kamailio" in status.stdout and "alive" in status.stdout
    finally:
        down = subprocess.run([PYTHON, LAB_CLI, "down", "--prefix", prefix], capture_output=True, text=True)
    assert down.returncode == 0, down.stderr
    assert not any(n.startswith(prefix + "-") for n in netns_names())
    assert not Path(f"/tmp/outpost-lab-{prefix}").exists()


def test_lab_errors_name_the_failing_command(lab):
    with pytest.raises(LabError, match=r"exit 1\): ip netns exec \S+-lan false"):
        lab.run("lan", ["false"])
