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
        self._bold = (lambda s: f"\033[1m{s}\033[0m") if color else (lambda s: s)
        self._dim = (lambda s: f"\033[2m{s}\033[0m") if color else (lambda s: s)

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
    for peer in demo.lab.peers.values():
        print(f"    {peer.name:<11} pid {peer.pid:<7} log {peer.log_path}")
    demo.show("outpost", ["dig", "+short", "@203.0.113.53", "sip.vendor.example"])
    demo.show("outpost", ["curl", "-sS", "--cacert", demo.lab.ca_cert, "--resolve",
                          "www.vendor.example:443:203.0.113.20", "https://www.vendor.example/whoami"])


def step_start_outpostd(demo):
    demo.say("""outpostd starts in the outpost namespace with the lab's config
        (tests/lab/outpost-lab.yaml): LAN 10.20.0.1/24 for clients in 10.20.0.0/25, the
        primary uplink wanp0, and the `lab` vendor profile.""")
    print(textwrap.indent(demo.lab.config().rstrip(), "    "))
    peer = demo.lab.start_outpostd()
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


def _broken_config(demo):
    return demo.lab.config(lan={"address": "10.20.0.1/24", "clients": ["10.20.0.0/25"]},
                           uplinks={"primary": {"gateway": "198.51.100.9"}})


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
    good = lab.config()
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
    Step("A config mistake, caught before reloading", step_config_check),
    Step("A bad reload is refused; the daemon keeps running", step_sighup_refused),
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
