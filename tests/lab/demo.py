#!/usr/bin/python3
"""`make demo`: outpost in its lab, shown step by step.

Brings the lab up (namespaces for a customer LAN, the appliance, two uplinks and a simulated
vendor), starts the vendor's services and outpostd in the `outpost` namespace, then walks
through what an operator sees. Every command is printed before its output. Tears everything
down at the end, also on Ctrl-C. Exits non-zero if a step failed.

Adding a section (e.g. for a new component): write a function `def step_x(demo): ...` that
uses demo.say / demo.show / demo.expect, and add `Step("Title", step_x)` to STEPS where it
belongs (after outpostd is running, before the shutdown). A step fails by raising (expect()
raises DemoFailure; LabError counts too).

usage: /usr/bin/python3 tests/lab/demo.py [--build DIR] [--keep]
"""
import argparse
import json
import os
import re
import shlex
import signal
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab import REPO, Lab, LabError  # noqa: E402

PROFILES = REPO / "daemon" / "profiles"


class DemoFailure(Exception):
    pass


class Demo:
    """What steps use: the lab, and a readable way to run and show commands."""

    def __init__(self, lab, color):
        self.lab = lab
        self.overrides = {}  # lab.config() overrides that steps have added
        self._bold = (lambda s: f"\033[1m{s}\033[0m") if color else (lambda s: s)
        self._dim = (lambda s: f"\033[2m{s}\033[0m") if color else (lambda s: s)

    def config(self, **more):
        """The lab's config with what earlier steps changed (the backup tunnel, DNS
        forwarders) and `more` on top: every reload keeps what the demo has set up."""
        return self.lab.config(**{**self.overrides, **more})

    def heading(self, number, title):
        print("\n" + self._bold(f"== {number}. {title} " + "=" * max(3, 68 - len(title))))

    def say(self, text):
        print(textwrap.fill(" ".join(text.split()), width=92))

    def show(self, role, argv, expect_code=0, max_lines=None, keep=None):
        """Runs argv in a namespace, printing `[ns]# command` and the output (optionally only
        the lines matching `keep`, at most max_lines); checks the exit code."""
        shown = " ".join(_short(a) for a in (argv if isinstance(argv, list) else [argv]))
        print(self._bold(f"[{self.lab.ns(role)}]# ") + shown)
        r = self.lab.run(role, argv, check=False)
        lines = (r.stdout + r.stderr).rstrip("\n").splitlines()
        if keep:
            lines = [line for line in lines if re.search(keep, line)]
        if max_lines and len(lines) > max_lines:
            lines = lines[:max_lines] + [f"... ({len(lines) - max_lines} more lines)"]
        for line in lines:
            print("    " + line)
        print(self._dim(f"    (exit {r.returncode})"))
        if expect_code is not None and r.returncode != expect_code:
            raise DemoFailure(f"`{shown}` exited {r.returncode}, expected {expect_code}")
        return r

    def expect(self, condition, message):
        if not condition:
            raise DemoFailure(message)


def _short(arg):
    """Commands read better without the build and run-dir paths: binaries are on PATH and
    the control socket comes from OUTPOST_CONTROL_SOCKET (set in main)."""
    text = str(arg)
    if text.endswith(("/outpostd", "/outpostctl")):
        text = Path(text).name
    return shlex.quote(text)


@dataclass
class Step:
    title: str
    run: Callable[[Demo], None]
    essential: bool = False  # later steps make no sense if this one failed


# ---- the steps ------------------------------------------------------------------------

def step_topology(demo):
    demo.say("""Five network namespaces stand for the customer LAN, the appliance (outpost), the
        telco's private link (wanp), the customer's internet access (inet) and the vendor's
        cloud. Only documentation addresses; no namespace has a default route, so nothing
        leaves this machine. The LAN has no route to the vendor at all: everything it gets from
        the vendor will have to go through outpost.""")
    for line in demo.lab.describe()[1:]:
        print("   " + line)
    demo.show("lan", ["ip", "route", "get", "203.0.113.10"], expect_code=2)
    demo.show("outpost", ["ip", "route", "get", "203.0.113.10"])


def step_vendor(demo):
    demo.say("""The simulated vendor runs real servers in its namespace: NSD (authoritative for
        vendor.example), two Kamailio SIP servers, nginx with HTTPS certificates from a lab
        CA, and UDP echoes for uplink probes and media.""")
    demo.lab.start_vendor()
    demo.overrides["uplinks"] = {"backup": demo.lab.start_backup_tunnel(), "probe": {"holddown": 3}}
    for peer in demo.lab.peers.values():
        print(f"    {peer.name:<11} pid {peer.pid:<7} log {peer.log_path}")
    demo.show("outpost", ["dig", "+short", "@203.0.113.53", "sip.vendor.example"])
    demo.show("outpost", ["curl", "-sS", "--cacert", demo.lab.ca_cert, "--resolve",
                          "www.vendor.example:443:203.0.113.20", "https://www.vendor.example/whoami"])


def step_start_outpostd(demo):
    demo.say("""outpostd starts in the outpost namespace with the lab's config
        (tests/lab/outpost-lab.yaml): LAN 10.20.0.1/24 for clients in 10.20.0.0/25, the
        primary uplink wanp0, the WireGuard backup over the customer's internet (inet0), and the
        `lab` vendor profile.""")
    config = demo.config()
    print(textwrap.indent(config.rstrip(), "    "))
    peer = demo.lab.start_outpostd(config)
    print(f"\n    outpostd is running: pid {peer.pid}, log {peer.log_path}")


def step_status(demo):
    demo.say("The operator's first question, answered over the control socket:")
    demo.show("outpost", [demo.lab.binary("outpostctl"), "status"])


def step_status_json(demo):
    demo.say("Every command also answers in JSON, for scripts and monitoring:")
    r = demo.show("outpost", [demo.lab.binary("outpostctl"), "--json", "status"])
    demo.expect('"state": "running"' in r.stdout, "status --json does not say running")


def step_show_config(demo):
    demo.say("The running configuration, with the profile's values filled in:")
    demo.show("outpost", [demo.lab.binary("outpostctl"), "show", "config"])


def step_metrics(demo):
    demo.say("Prometheus metrics on 127.0.0.1:9800 inside the appliance (a few lines of many):")
    r = demo.show("outpost", ["curl", "-sS", "http://127.0.0.1:9800/metrics"],
                  keep=r"^outpost_(build_info|uptime_seconds|config_reloads_total|config_last_reload)")
    demo.expect("outpost_build_info" in r.stdout and "outpost_uptime_seconds" in r.stdout, "metrics incomplete")


DEMO_CORP_ZONE = """\
$ORIGIN corp.example.
$TTL 300
@     IN SOA ns hostmaster 1 3600 600 86400 60
@     IN NS ns
ns    IN A 10.20.0.53
intranet IN A 10.20.1.1
pbx   IN CNAME sip.vendor.example.
"""

# vendor.example as the public internet sees it, which is what the site resolver would answer.
DEMO_PUBLIC_VENDOR_ZONE = """\
$ORIGIN vendor.example.
$TTL 300
@     IN SOA ns.corp.example. hostmaster.corp.example. 1 3600 600 86400 60
@     IN NS ns.corp.example.
sip   IN A 203.0.113.10
www   IN A 203.0.113.20
"""


def step_dns(demo):
    demo.say("""Split-horizon DNS. The customer's own resolver (NSD on 10.20.0.53 in the LAN, with
        the site's corp.example zone and, as on the internet, the vendor's public addresses) stays in charge of everything else; outpost forwards to it
        (dns.forwarders, applied here by a reload) and answers the vendor's names with its own LAN
        address, so that LAN clients come to outpost for the vendor.""")
    lab = demo.lab
    ctl = lab.binary("outpostctl")
    lab.run("lan", ["ip", "addr", "add", "10.20.0.53/24", "dev", "lan0"])
    lab.start_nsd("lan", "10.20.0.53", {"corp.example": DEMO_CORP_ZONE,
                                                   "vendor.example": DEMO_PUBLIC_VENDOR_ZONE}, name="nsd-site")
    demo.overrides["dns"] = {"forwarders": ["10.20.0.53"]}
    lab.write("outpost.yaml", demo.config())
    demo.show("outpost", [ctl, "config", "reload"])
    r = demo.show("lan", ["dig", "+noall", "+answer", "@10.20.0.1", "sip.vendor.example"])
    demo.expect("10.20.0.1" in r.stdout and "203.0.113." not in r.stdout, "vendor name not rewritten")
    demo.say("A site name is answered as the site resolver answers it; a CNAME from the site's zone"
             " into the vendor's ends at outpost too:")
    r = demo.show("lan", ["dig", "+noall", "+answer", "@10.20.0.1", "intranet.corp.example"])
    demo.expect("10.20.1.1" in r.stdout, "site name not forwarded")
    r = demo.show("lan", ["dig", "+noall", "+answer", "@10.20.0.1", "pbx.corp.example"])
    demo.expect("10.20.0.1" in r.stdout and "203.0.113." not in r.stdout, "CNAME chain leaked")
    demo.say("""A host outside the allowed client subnets is refused: outpost is not an open
        resolver. outpost itself still learns the vendor's real address, over the uplink:""")
    r = demo.show("lan", ["dig", "-b", "10.20.0.200", "@10.20.0.1", "sip.vendor.example"], keep="status:")
    demo.expect("REFUSED" in r.stdout, "outside client not refused")
    demo.show("outpost", [ctl, "dns", "lookup", "sip.vendor.example", "--uplink"])
    demo.show("outpost", [ctl, "dns", "lookup", "sip.vendor.example", "--client", "10.20.0.10"])
    demo.show("outpost", [ctl, "show", "dns"], max_lines=40)


def step_tls(demo):
    demo.say("""TLS passthrough. A browser on the LAN opens https://www.vendor.example, which the LAN's
        DNS now points at outpost. outpost reads the server name from the ClientHello, without
        decrypting anything, and relays the connection to the vendor over the uplink: the browser
        sees the vendor's own certificate, verified here against the lab CA.""")
    lab = demo.lab
    r = demo.show("lan", ["curl", "-sS", "--cacert", lab.ca_cert, "--resolve", "www.vendor.example:443:10.20.0.1",
                          "-w", " (certificate verified, HTTP %{http_code})\\n", "https://www.vendor.example/whoami"])
    demo.expect("200" in r.stdout, "no answer through the passthrough")
    demo.say("""A name that is not the vendor's is reset: outpost is never an open proxy.""")
    demo.show("lan", ["curl", "-sS", "-k", "--max-time", "5", "--resolve", "www.elsewhere.example:443:10.20.0.1",
                      "https://www.elsewhere.example/"], expect_code=None)
    r = demo.show("outpost", [lab.binary("outpostctl"), "show", "tls"], max_lines=30)
    demo.expect("refused" in r.stdout or "non_vendor" in r.stdout, "no refusal counted")


def step_sip(demo):
    demo.say("""SIP. A phone on the LAN registers with the vendor's SIP server (Kamailio, asking for
        digest authentication) through outpost, which is its SIP proxy: the challenge and the
        answer pass through untouched, and the vendor only ever sees outpost's uplink address.""")
    lab = demo.lab
    scenarios = REPO / "tests" / "lab"
    ctl = lab.binary("outpostctl")
    lab.stop("kamailio")
    lab.start_kamailio(auth={"alice": "secret"}, uas="sip:203.0.113.10:5070")
    lab.start("vendor", "sipp-uas", ["sipp", "-sf", str(scenarios / "sipp_uas.xml"), "-i", "203.0.113.10",
                                     "-p", "5070", "-nostdin"])
    lab.wait_until(lambda: lab.listening("vendor", "udp", "203.0.113.10", 5070), timeout=10, what="the SIPp callee")
    common = ["-i", "10.20.0.10", "-m", "1", "-nostdin", "-timeout", "30", "-timeout_error", "-au", "alice",
              "-ap", "secret"]
    demo.show("lan", ["sipp", "10.20.0.1:5060", "-sf", str(scenarios / "sipp_register_auth.xml"), "-s", "alice",
                      "-p", "5062", "-set", "expires", "300", *common], keep=r"Successful call|Failed call", max_lines=4)
    demo.show("outpost", [ctl, "show", "sip", "registrations"])
    seen = [l.split("seen ", 1)[1] for l in lab.peer("kamailio").log_text().splitlines() if "seen REGISTER" in l]
    print("    what the vendor's registrar saw: " + (seen[-1] if seen else "(nothing)"))
    demo.expect(seen and "10.20.0." not in seen[-1], "a LAN address reached the vendor")
    demo.say("""A call from that phone to a number at the vendor (a SIPp callee behind Kamailio): INVITE
        with proxy authentication, 200, ACK, then BYE, all through outpost.""")
    demo.show("lan", ["sipp", "10.20.0.1:5060", "-sf", str(scenarios / "sipp_uac_auth.xml"), "-s", "bob",
                      "-p", "5064", "-set", "caller", "alice", "-d", "500", *common],
              keep=r"Successful call|Failed call", max_lines=4)
    r = demo.show("outpost", [ctl, "--json", "show", "sip"], keep=r'"calls_answered"|"registrations_relayed"')
    demo.expect('"calls_answered": 1' in r.stdout, "the call was not answered through outpost")


def step_media(demo):
    demo.say("""Media. The phone calls again; this time the callee echoes RTP. outpost rewrote the
        SDP both ways, so the phone sends its audio to outpost's LAN address and the vendor's
        side to outpost's uplink address; the relay carries the packets between the two legs,
        untouched, and latches onto the port the phone really sends from (here not the one its
        SDP named, as behind a NAT).""")
    lab = demo.lab
    scenarios = REPO / "tests" / "lab"
    ctl = lab.binary("outpostctl")
    lab.stop("sipp-uas")
    lab.start("vendor", "sipp-uas-echo", ["sipp", "-sf", str(scenarios / "sipp_uas.xml"), "-i", "203.0.113.10",
                                          "-p", "5070", "-nostdin", "-mi", "203.0.113.10", "-mp", "6000",
                                          "-rtp_echo"])
    lab.wait_until(lambda: lab.listening("vendor", "udp", "203.0.113.10", 5070), timeout=10, what="the SIPp callee")
    call = lab.start("lan", "sipp-media-call", [
        "sipp", "10.20.0.1:5060", "-sf", str(scenarios / "sipp_uac_auth.xml"), "-s", "bob", "-i", "10.20.0.10",
        "-p", "5066", "-mi", "10.20.0.10", "-mp", "6100", "-m", "1", "-nostdin", "-timeout", "30",
        "-timeout_error", "-au", "alice", "-ap", "secret", "-set", "caller", "alice", "-d", "4000"])

    def confirmed():
        calls = lab.ctl("show", "calls", check=False).get("calls", [])
        return [c for c in calls if c.get("state") == "confirmed" and c.get("media")]
    lab.wait_until(lambda: confirmed(), timeout=15, what="the call to be answered")
    lan_leg = confirmed()[0]["media"][0]["lan"]["local"]
    r = demo.show("lan", ["python3", str(scenarios / "rtp_probe.py"), "10.20.0.10:7100", lan_leg, "50"],
                  keep=r"^$")  # its JSON is for the check below
    probe = json.loads(r.stdout)
    print(f"    the phone sent {len(probe['sent'])} RTP packets to {lan_leg} and got {len(probe['received'])} "
          f"back from the vendor's echo, "
          f"{'all' if set(probe['received']) <= set(probe['sent']) else 'NOT all'} byte for byte")
    demo.expect(len(probe["received"]) >= 45 and set(probe["received"]) <= set(probe["sent"]),
                "RTP did not come back through the relay")
    demo.show("outpost", [ctl, "show", "calls"])
    call.wait(30)
    demo.say("""The call ended: its relay sockets are parked, still bound, for the next call to
        re-use (media.parked_streams; whatever still arrives on them is dropped and counted),
        and its call record (one CSV line a call, with the media figures) is on disk.""")
    demo.show("outpost", [ctl, "show", "media"], max_lines=20)
    cdr_dir = lab.ctl("show", "sip")["cdr_dir"]
    demo.show("outpost", ["sh", "-c", f"tail -n 2 {cdr_dir}/calls-*.csv"])


def step_uplinks(demo):
    demo.say("""Uplinks. outpost probes the vendor over the telco's private link (primary) and over
        the encrypted WireGuard tunnel across the customer's internet (backup), and routes the
        vendor's prefixes itself. Then the fibre is cut (the telco side of wanp goes down):
        outpost moves the vendor's routes to the tunnel by itself, and moves them back once
        the link has been good for the hold-down time.""")
    lab = demo.lab
    ctl = lab.binary("outpostctl")

    def active():
        return lab.ctl("show", "uplinks", check=False).get("active")
    lab.wait_until(lambda: active() == "primary", timeout=20, what="the primary uplink to be active")
    demo.show("outpost", [ctl, "show", "uplinks"], max_lines=24)
    demo.show("outpost", ["ip", "route", "get", "203.0.113.10"])
    demo.show("wanp", ["ip", "link", "set", "out0", "down"])
    lab.wait_until(lambda: active() == "backup", timeout=20, what="failover to the backup")
    r = demo.show("outpost", ["ip", "route", "get", "203.0.113.10"])
    demo.expect(lab.wireguard_ifname("o") in r.stdout, "the vendor route did not move to the tunnel")
    demo.say("""Still reaching the vendor's SIP server, now through the tunnel:""")
    r = demo.show("outpost", ["dig", "+short", "+time=2", "+tries=2", "@203.0.113.53", "sip.vendor.example"])
    demo.expect("203.0.113.10" in r.stdout, "the vendor's DNS did not answer over the backup")
    demo.show("wanp", ["ip", "link", "set", "out0", "up"])
    lab.wait_until(lambda: active() == "primary", timeout=30, what="failback to the primary")
    demo.show("outpost", [ctl, "show", "uplinks"], keep=r"^\s*active:|switches:|hold-down|down \(")


def _broken_config(demo):
    return demo.config(lan={"address": "10.20.0.1/24", "clients": ["10.20.0.0/25"]},
                       uplinks={**demo.overrides["uplinks"], "primary": {"gateway": "198.51.100.9"}})


def step_config_check(demo):
    demo.say("""An operator edits the config and makes two mistakes: a misspelt key
        (`clients` instead of `client_subnets`) and a gateway outside the uplink's subnet.
        `outpostctl config check` finds both before anything is reloaded, with FILE:LINE:COL:""")
    path = demo.lab.write("edited/outpost.yaml", _broken_config(demo))
    r = demo.show("outpost", [demo.lab.binary("outpostctl"), "config", "check", path, "--profile-dir", PROFILES],
                  expect_code=1)
    demo.expect(re.search(rf"{re.escape(str(path))}:\d+:\d+: unknown key 'clients'", r.stderr),
                "config check did not point at the misspelt key")
    lines = path.read_text().splitlines()
    for where in re.findall(rf"{re.escape(str(path))}:(\d+):\d+:", r.stderr):
        print(f"    line {where}: {lines[int(where) - 1]}")


def step_sighup_refused(demo):
    demo.say("""The same mistakes saved into the live config file, and outpostd told to reload
        (SIGHUP, as `systemctl reload` does). It refuses the file, keeps running with the
        config it had, and says why in its status and metrics:""")
    lab = demo.lab
    good = demo.config()
    lab.write("outpost.yaml", _broken_config(demo))
    pid = lab.peer("outpostd").pid
    demo.show("outpost", ["kill", "-HUP", str(pid)])
    ctl = lab.binary("outpostctl")
    lab.wait_until(lambda: (lab.ctl("status", check=False).get("last_reload") or {}).get("ok") is False,
                   timeout=5, what="the refused reload in status")
    r = demo.show("outpost", [ctl, "status"])
    demo.expect(lab.peer("outpostd").alive(), "outpostd died on a bad reload")
    demo.expect("running" in r.stdout, "outpostd does not report running after the refused reload")
    demo.show("outpost", ["curl", "-sS", "http://127.0.0.1:9800/metrics"], keep=r"^outpost_config_")
    demo.say("Fixed file, reloaded through the control socket this time:")
    lab.write("outpost.yaml", good)
    demo.show("outpost", [ctl, "config", "reload"])


def step_sip_tls(demo):
    demo.say("""SIP to the vendor over TLS. Some vendors take SIP only over TLS (or WSS). The vendor's
        Kamailio now also listens on TLS 5061, with a certificate for sip.vendor.example from the
        lab CA, and outpost is restarted with that server (`transport: tls`) and the CA to check
        it against (`sip.uplink_ca`). The phone still speaks plain UDP on the LAN; outpost opens
        one TLS connection from its uplink address and port 5061, checks the certificate and the
        name, and relays a phone's REGISTER (digest and all) over it.""")
    lab = demo.lab
    ctl = lab.binary("outpostctl")
    lab.stop("kamailio")
    lab.start_kamailio(auth={"alice": "secret", "carol": "c4rol"}, uas="sip:203.0.113.10:5070",
                       tls={"name": "sip.vendor.example"})
    lab.stop("outpostd")
    server = {"host": "sip.vendor.example", "transport": "tls", "port": 5061}
    lab.start_outpostd(demo.config(
        vendor={"profile": None, "fqdns": ["vendor.example", "*.vendor.example"], "prefixes": ["203.0.113.0/24"],
                "resolvers": ["203.0.113.53"], "probe_targets": ["203.0.113.7:7"], "sip_servers": [server]},
        sip={"uplink_ca": str(lab.ca_cert)}))
    print("    outpost.yaml now says: vendor.sip_servers: [{host: sip.vendor.example, transport: tls, port: 5061}],"
          " sip.uplink_ca: <the lab CA>")
    lab.wait_until(lambda: any(s.get("transport") == "tls" and s.get("state") == "usable"
                               for s in lab.ctl("show", "sip", check=False).get("servers", [])),
                   timeout=15, what="the TLS server to be located")
    scenarios = REPO / "tests" / "lab"
    # carol, a phone that has not registered yet (alice's binding is still fresh at the vendor,
    # so outpost would answer her refresh itself: registration throttling).
    demo.show("lan", ["sipp", "10.20.0.1:5060", "-sf", str(scenarios / "sipp_register_auth.xml"), "-s", "carol",
                      "-p", "5068", "-set", "expires", "300", "-i", "10.20.0.10", "-m", "1", "-nostdin",
                      "-timeout", "30", "-timeout_error", "-au", "carol", "-ap", "c4rol"],
              keep=r"Successful call|Failed call", max_lines=4)
    seen = [l.split("seen ", 1)[1] for l in lab.peer("kamailio").log_text().splitlines()
            if "seen REGISTER" in l and "SIP/2.0/TLS" in l]
    print("    what the vendor's registrar saw: " + (seen[-1] if seen else "(no REGISTER over TLS)"))
    demo.expect(seen and "10.20.0." not in seen[-1], "no REGISTER reached the vendor over TLS")
    r = demo.show("outpost", [ctl, "--json", "show", "sip"], keep=r'"tls/wss client"|"opened"|"verify"|'
                  r'"handshake_failures"')
    demo.expect('"opened": 1' in r.stdout, "outpost did not open exactly one TLS connection")


def step_shutdown(demo):
    demo.say("""SIGTERM (what `systemctl stop` sends): outpostd stops its components, closes the
        control socket and exits 0.""")
    peer = demo.lab.peer("outpostd")
    demo.show("outpost", ["kill", "-TERM", str(peer.pid)])
    code = peer.wait(5)
    print(f"    outpostd exit code: {code}; control socket present: {demo.lab.control_socket.exists()}")
    demo.expect(code == 0, f"outpostd exited {code} after SIGTERM")
    demo.show("outpost", [demo.lab.binary("outpostctl"), "status"], expect_code=3)


STEPS = [
    Step("The lab", step_topology, essential=True),
    Step("The vendor's services", step_vendor, essential=True),
    Step("outpostd starts", step_start_outpostd, essential=True),
    Step("outpostctl status", step_status),
    Step("outpostctl --json status", step_status_json),
    Step("outpostctl show config", step_show_config),
    Step("Metrics", step_metrics),
    Step("Split-horizon DNS for the LAN", step_dns),
    Step("TLS passthrough for the vendor's web apps", step_tls),
    Step("A phone registers and calls through outpost", step_sip),
    Step("Media: RTP relayed through outpost", step_media),
    Step("The private link fails; the tunnel takes over", step_uplinks),
    Step("A config mistake, caught before reloading", step_config_check),
    Step("A bad reload is refused; the daemon keeps running", step_sighup_refused),
    Step("SIP to the vendor over TLS", step_sip_tls),
    Step("Clean shutdown", step_shutdown),
]


def main(argv):
    ap = argparse.ArgumentParser(description="outpost demo in the network-namespace lab")
    ap.add_argument("--build", default=os.environ.get("OUTPOST_BUILD", "build"), help="build directory")
    ap.add_argument("--keep", action="store_true", help="keep the lab's run dir (logs, configs) afterwards")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("demo: needs root (it creates network namespaces)", file=sys.stderr)
        return 2
    started = time.monotonic()
    failures = []
    lab = Lab(build_dir=args.build, keep=args.keep)
    try:
        lab.binary("outpostd")
        lab.up()
        os.environ["OUTPOST_CONTROL_SOCKET"] = str(lab.control_socket)
        demo = Demo(lab, color=sys.stdout.isatty())
        print(f"outpost demo: lab {lab.prefix}, run dir {lab.rundir}, binaries from {lab.build_dir}/daemon")
        print("Commands below run inside a namespace ([namespace]# command), as `ip netns exec`.")
        for number, step in enumerate(STEPS, 1):
            demo.heading(number, step.title)
            try:
                step.run(demo)
            except (DemoFailure, LabError) as e:
                failures.append(step.title)
                print(f"\n  !! step failed: {e}")
                if step.essential:
                    print("  !! later steps need this one: stopping here")
                    break
    except LabError as e:
        print(f"demo: {e}", file=sys.stderr)
        failures.append("lab setup")
    except KeyboardInterrupt:
        failures.append("interrupted")
    finally:
        print("\n== tearing the lab down" + (" (run dir kept)" if args.keep else ""))
        try:
            lab.down()
        except LabError as e:
            print(f"demo: {e}", file=sys.stderr)
            failures.append("teardown")
    took = time.monotonic() - started
    if failures:
        print(f"demo FAILED ({len(failures)}: {', '.join(failures)}) in {took:.0f} s")
        return 1
    print(f"demo finished: {len(STEPS)} steps passed in {took:.0f} s")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    sys.exit(main(sys.argv[1:]))
