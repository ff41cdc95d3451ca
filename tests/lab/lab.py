#!/usr/bin/python3
"""outpost's lab: a customer LAN, the appliance, two uplinks and a simulated vendor, each in
its own network namespace, with real peers (NSD, Kamailio, nginx, UDP echo) and outpostd.

The interface is the lab contract (/work/notes/lab-contract.md; tests/lab/README.md):
integration tests and `make demo` use it, so names here are kept stable.

    with Lab(build_dir="build") as lab:       # up() now, down() on exit, SIGINT or SIGTERM
        lab.start_vendor()
        lab.start_outpostd()
        lab.ctl("status")["state"]            # -> "running"

Python standard library only; run with /usr/bin/python3, as root.
CLI: lab.py up|down|status [--prefix P] [--keep] [--stale] [--vendor] [--outpostd] [--build DIR]
"""
import atexit
import json as jsonlib
import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

try:  # as part of a package, or with tests/lab on sys.path
    from . import labyaml, peers
    from .topology import (BACKUP_TUNNEL, EXTRA_ADDRESSES, FORWARDING, LINKS, ROLES, ROUTES, VENDOR_HOSTS, VENDOR_ROUTE,
                           LabError, LabTimeout)
except ImportError:
    import labyaml
    import peers
    from topology import (BACKUP_TUNNEL, EXTRA_ADDRESSES, FORWARDING, LINKS, ROLES, ROUTES, VENDOR_HOSTS, VENDOR_ROUTE,
                          LabError, LabTimeout)

__all__ = ["Lab", "Peer", "CtlReply", "LabError", "LabTimeout", "ROLES", "VENDOR_HOSTS", "REPO"]

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RUN_ROOT = Path("/tmp")
OUTPOSTD_NAME = "outpostd"


class CtlReply(dict):
    """outpostctl's JSON answer, plus .returncode, .stdout and .stderr of the call."""

    returncode = 0
    stdout = stderr = ""


class Peer:
    """A background process in a namespace; stdout and stderr go to <rundir>/<name>.log."""

    def __init__(self, name, role, argv, log_path, popen=None, pid=None):
        self.name, self.role, self.argv, self.log_path = name, role, list(argv), Path(log_path)
        self.popen = popen
        self.pid = popen.pid if popen else pid

    def alive(self):
        if self.popen is not None:
            return self.popen.poll() is None
        return _pid_alive(self.pid)

    @property
    def returncode(self):
        return self.popen.poll() if self.popen is not None else None

    def wait(self, timeout):
        """The exit code, or None if still running after `timeout` seconds."""
        if self.popen is None:
            deadline = time.monotonic() + timeout
            while self.alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            return None if self.alive() else 0
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def signal(self, sig):
        os.kill(self.pid, sig)

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=30):
        return "\n".join(self.log_text().splitlines()[-lines:])

    def __repr__(self):
        return f"Peer({self.name!r}, pid={self.pid}, {'alive' if self.alive() else 'exited'})"


def _sh(argv, check=True, timeout=30, input=None):
    """Runs a command in the current namespace; LabError with its output on failure."""
    try:
        r = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise LabError(f"timed out after {timeout} s: {shlex.join(argv)}") from e
    except OSError as e:
        raise LabError(f"cannot run {shlex.join(argv)}: {e}") from e
    if check and r.returncode != 0:
        raise LabError(f"command failed (exit {r.returncode}): {shlex.join(argv)}\n"
                       f"{r.stderr.strip()}\n{r.stdout.strip()}".rstrip())
    return r


def _pid_alive(pid):
    """True for a live process (a zombie waiting for its parent to reap it counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def _netns_exists(name):
    return Path("/run/netns", name).exists()


class _SignalGuard:
    """Turns SIGTERM into SystemExit (SIGINT is KeyboardInterrupt already), so `with` blocks,
    pytest fixtures and atexit hooks run and every live lab is torn down."""

    installed = False

    @classmethod
    def install(cls):
        if cls.installed or threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, cls._on_sigterm)
        if signal.getsignal(signal.SIGINT) is signal.SIG_DFL:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        cls.installed = True

    @staticmethod
    def _on_sigterm(signum, frame):
        raise SystemExit(128 + signum)


class Lab:
    def __init__(self, build_dir="build", prefix=None, keep=False, static_vendor_route=True):
        build = Path(build_dir)
        self.build_dir = build if build.is_absolute() else REPO / build
        if prefix is not None and not re.fullmatch(r"[a-z][a-z0-9]{1,11}", prefix):
            raise LabError(f"bad lab prefix {prefix!r}: 2-12 of [a-z0-9], starting with a letter")
        self.prefix = prefix
        self.keep = keep
        # False: no static route to the vendor in outpost; outpost's uplink component routes
        # (tests/integration/test_uplinks.py).
        self.static_vendor_route = static_vendor_route
        self.rundir = RUN_ROOT / f"outpost-lab-{prefix}" if prefix else None
        self.peers = {}
        self._hooked = False
        self._owner = os.getpid()  # the process whose exit tears the lab down (None: detached)

    # ---- topology ------------------------------------------------------------------

    def ns(self, role):
        if role not in ROLES:
            raise LabError(f"unknown lab role {role!r} (roles: {', '.join(ROLES)})")
        if not self.prefix:
            raise LabError("the lab has no prefix yet: call up() first")
        return f"{self.prefix}-{role}"

    def _claim_prefix(self):
        if self.prefix:
            self.rundir.mkdir(mode=0o755, exist_ok=True)
            return
        for _ in range(100):
            prefix = "op%04x" % random.randrange(0x10000)
            rundir = RUN_ROOT / f"outpost-lab-{prefix}"
            if any(_netns_exists(f"{prefix}-{r}") for r in ROLES):
                continue
            try:
                rundir.mkdir(mode=0o755)  # atomic: the run dir is the claim on the prefix
            except FileExistsError:
                continue
            self.prefix, self.rundir = prefix, rundir
            return
        raise LabError("no free lab prefix after 100 tries: clean up with `lab.py status`")

    def up(self, static_vendor_route=None):
        """Creates (or completes) the namespaces, links, addresses and routes. The static route
        to the vendor in outpost comes with static_vendor_route (default: the constructor's)."""
        if static_vendor_route is None:
            static_vendor_route = self.static_vendor_route
        if os.geteuid() != 0:
            raise LabError("the lab needs root (network namespaces)")
        self._claim_prefix()
        self._hook_cleanup()
        self._save_state()
        for role in ROLES:
            if not _netns_exists(self.ns(role)):
                _sh(["ip", "netns", "add", self.ns(role)])
            self._ip(role, "link", "set", "lo", "up")
        for a, if_a, addr_a, b, if_b, addr_b in LINKS:
            if self._ip(a, "link", "show", if_a, check=False).returncode != 0:
                _sh(["ip", "-n", self.ns(a), "link", "add", if_a, "type", "veth",
                     "peer", "name", if_b, "netns", self.ns(b)])
            for role, ifname, addr in ((a, if_a, addr_a), (b, if_b, addr_b)):
                self._ip(role, "addr", "replace", addr, "dev", ifname)
                self._ip(role, "link", "set", ifname, "up")
        for role, ifname, addr in EXTRA_ADDRESSES:
            self._ip(role, "addr", "replace", addr, "dev", ifname)
        for role in FORWARDING:
            self.run(role, ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        routes = ROUTES + ((VENDOR_ROUTE,) if static_vendor_route else ())
        for role, dst, via in routes:
            self._ip(role, "route", "replace", dst, "via", via)
        return self

    def _ip(self, role, *args, check=True):
        return _sh(["ip", "-n", self.ns(role), *args], check=check)

    def describe(self):
        """The topology as text lines (for humans: the demo, the CLI)."""
        lines = [f"lab {self.prefix}: run dir {self.rundir}"]
        for a, if_a, addr_a, b, if_b, addr_b in LINKS:
            lines.append(f"  {self.ns(a):>16} {if_a:<6} {addr_a:<16} <-> "
                         f"{self.ns(b)} {if_b} {addr_b}")
        for role, ifname, addr in EXTRA_ADDRESSES:
            lines.append(f"  {self.ns(role):>16} {ifname:<6} {addr}")
        for role, dst, via in ROUTES + (VENDOR_ROUTE,):
            lines.append(f"  {self.ns(role):>16} route {dst} via {via}")
        return lines

    # ---- teardown ------------------------------------------------------------------

    def down(self, keep=None):
        """Stops every process in the lab's namespaces, deletes them, removes the run dir
        (unless keep). Safe to call at any time, several times, from another process."""
        keep = self.keep if keep is None else keep
        if not self.prefix:
            return
        problems = []
        for name in reversed(list(self.peers)):
            try:
                self.stop(name)
            except Exception as e:  # keep tearing down; report at the end
                problems.append(f"stop {name}: {e}")
        for role in ROLES:
            ns = self.ns(role)
            if not _netns_exists(ns):
                continue
            for _ in range(50):  # anything still in the namespace was started by this lab
                pids = _sh(["ip", "netns", "pids", ns], check=False).stdout.split()
                if not pids:
                    break
                for pid in pids:
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except (OSError, ValueError):
                        pass
                time.sleep(0.05)
            r = _sh(["ip", "netns", "del", ns], check=False)
            if r.returncode != 0:
                problems.append(f"ip netns del {ns}: {r.stderr.strip()}")
        if not keep and self.rundir and self.rundir.exists():
            shutil.rmtree(self.rundir, ignore_errors=True)
        self._unhook_cleanup()
        if problems:
            raise LabError("lab teardown incomplete:\n  " + "\n  ".join(problems))

    def _hook_cleanup(self):
        if not self._hooked:
            atexit.register(self._down_at_exit)
            _SignalGuard.install()
            self._hooked = True

    def _unhook_cleanup(self):
        if self._hooked:
            atexit.unregister(self._down_at_exit)
            self._hooked = False

    def detach(self):
        """Leaves the lab running when this process exits (the CLI's `up`)."""
        self._unhook_cleanup()
        self._owner = None
        self._save_state()

    def _down_at_exit(self):
        try:
            self.down()
        except LabError as e:
            print(e, file=sys.stderr)

    def __enter__(self):
        try:
            return self.up()
        except BaseException:
            self.down()
            raise

    def __exit__(self, *exc):
        self.down()
        return False

    # ---- running things ------------------------------------------------------------

    def run(self, role, argv_or_str, check=True, timeout=30, input=None):
        """Runs a command in a namespace and waits; a string goes through `sh -c`."""
        argv = ["sh", "-c", argv_or_str] if isinstance(argv_or_str, str) else [str(a) for a in argv_or_str]
        return _sh(["ip", "netns", "exec", self.ns(role), *argv], check=check, timeout=timeout, input=input)

    def start(self, role, name, argv, env=None, cwd=None):
        """Starts a background process in a namespace, in its own session (so a terminal's
        Ctrl-C reaches only us, and we stop it). env is added to our environment."""
        if name in self.peers and self.peers[name].alive():
            raise LabError(f"a peer named {name!r} is already running (pid {self.peers[name].pid})")
        argv = [str(a) for a in argv]
        log_path = self.rundir / f"{name}.log"
        with open(log_path, "ab") as log:
            log.write(f"---- {time.strftime('%H:%M:%S')} {shlex.join(argv)}\n".encode())
            log.flush()
            popen = subprocess.Popen(["ip", "netns", "exec", self.ns(role), *argv], stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
                                     env={**os.environ, **(env or {})}, start_new_session=True)
        peer = Peer(name, role, argv, log_path, popen)
        self.peers[name] = peer
        self._save_state()
        return peer

    def peer(self, name):
        if name not in self.peers:
            raise LabError(f"no peer named {name!r} (peers: {', '.join(self.peers) or 'none'})")
        return self.peers[name]

    def stop(self, name):
        """SIGTERM to the peer's process group, SIGKILL after 3 s; returns the exit code."""
        peer = self.peers.get(name)
        if peer is None:
            return None
        for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 2.0)):
            if not peer.alive():
                break
            try:
                os.killpg(peer.pid, sig)
            except ProcessLookupError:
                pass
            peer.wait(grace)
        code = peer.returncode
        del self.peers[name]
        self._save_state()
        return code

    def wait_until(self, fn, timeout=10, interval=0.1, what="a condition"):
        """Calls fn until it returns something truthy (returned) or the deadline passes
        (LabTimeout with the last value). Exceptions from fn propagate."""
        deadline = time.monotonic() + timeout
        while True:
            last = fn()
            if last:
                return last
            if time.monotonic() >= deadline:
                raise LabTimeout(what, last, timeout)
            time.sleep(interval)

    def wait_ready(self, peer, ready, timeout=15, what=None):
        """Waits until ready() is truthy; LabError with the log tail if the peer exits first."""
        def check():
            if not peer.alive():
                raise LabError(f"{peer.name} exited (code {peer.returncode}) before it was ready; "
                               f"log {peer.log_path}:\n{peer.log_tail()}")
            return ready()
        try:
            return self.wait_until(check, timeout, what=what or f"{peer.name} to be ready")
        except LabTimeout as e:
            raise LabTimeout(f"{e.what}; log {peer.log_path}:\n{peer.log_tail()}", e.last, timeout) from None

    def listening(self, role, proto, address, port):
        """True if something in the namespace listens on address:port (proto udp or tcp)."""
        r = self.run(role, ["ss", "-Hln", "-u" if proto == "udp" else "-t"], check=False)
        return any(line.split()[3] == f"{address}:{port}" for line in r.stdout.splitlines()
                   if len(line.split()) > 3)

    def write(self, relpath, text):
        path = self.rundir / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def _save_state(self):
        state = {"prefix": self.prefix, "build_dir": str(self.build_dir), "owner_pid": self._owner,
                 "peers": {n: {"pid": p.pid, "role": p.role, "argv": p.argv} for n, p in self.peers.items()}}
        (self.rundir / "lab.json").write_text(jsonlib.dumps(state, indent=1) + "\n")

    def orphaned(self):
        """True if the process that set this lab up died without tearing it down (SIGKILL)."""
        return self._owner is not None and self._owner != os.getpid() and not _pid_alive(self._owner)

    @classmethod
    def attach(cls, prefix, keep=False):
        """A Lab object for a lab another process set up (the CLI's down/status)."""
        lab = cls(prefix=prefix, keep=keep)
        state_file = lab.rundir / "lab.json"
        if state_file.exists():
            state = jsonlib.loads(state_file.read_text())
            lab.build_dir = Path(state["build_dir"])
            lab._owner = state.get("owner_pid")
            for name, p in state["peers"].items():
                lab.peers[name] = Peer(name, p["role"], p["argv"], lab.rundir / f"{name}.log", pid=p["pid"])
        return lab

    # ---- outpostd --------------------------------------------------------------------

    def binary(self, name):
        path = self.build_dir / "daemon" / name
        if not path.exists():
            raise LabError(f"{path} not found: build first (make BUILD={self.build_dir.name})")
        return path

    @property
    def control_socket(self):
        return self.rundir / "control.sock"

    def config(self, **overrides):
        """The lab's outpost.yaml text: tests/lab/outpost-lab.yaml with overrides merged in
        (dicts merge, other values replace, None removes a key)."""
        text = (HERE / "outpost-lab.yaml").read_text().replace("@RUN@", str(self.rundir))
        if not overrides:
            return text
        merged = labyaml.merge(labyaml.loads(text, "outpost-lab.yaml"), overrides)
        return "# generated by lab.config() from tests/lab/outpost-lab.yaml\n" + labyaml.dumps(merged) + "\n"

    def start_outpostd(self, config_text=None, extra_args=(), wrapper=()):
        """Writes <rundir>/outpost.yaml and runs outpostd in the outpost namespace until its
        control socket answers `status`. `wrapper`: a command that execs outpostd (prlimit)."""
        path = self.write("outpost.yaml", config_text if config_text is not None else self.config())
        (self.rundir / "state").mkdir(exist_ok=True)
        argv = [*wrapper, self.binary("outpostd"), "-f", "-c", path, "--profile-dir", REPO / "daemon" / "profiles",
                *extra_args]
        peer = self.start("outpost", OUTPOSTD_NAME, argv)
        self.wait_ready(peer, lambda: self.ctl("status", check=False).returncode == 0,
                        what="outpostd to answer on its control socket")
        return peer

    def ctl(self, *words, json=True, check=True, timeout=10):
        """outpostctl in the outpost namespace. json=True: a CtlReply (a dict: the reply's data
        on success, the whole reply on failure, {} if nothing parsable); else the
        CompletedProcess. check=True raises LabError when outpostctl exits non-zero."""
        argv = [self.binary("outpostctl"), "-s", self.control_socket, "--timeout", str(timeout)]
        argv += ["--json"] if json else []
        r = self.run("outpost", [*argv, *words], check=False, timeout=timeout + 5)
        if check and r.returncode != 0:
            raise LabError(f"outpostctl {' '.join(words)} exited {r.returncode}:\n{r.stderr.strip()}\n"
                           f"{r.stdout.strip()}".rstrip())
        if not json:
            return r
        try:
            parsed = jsonlib.loads(r.stdout) if r.stdout.strip() else {}
        except ValueError:
            parsed = {}
        reply = CtlReply(parsed if isinstance(parsed, dict) else {"value": parsed})
        reply.returncode, reply.stdout, reply.stderr = r.returncode, r.stdout, r.stderr
        return reply

    def reload_outpostd(self):
        self.peer(OUTPOSTD_NAME).signal(signal.SIGHUP)

    def metrics(self, url="http://127.0.0.1:9800/metrics", role="outpost"):
        """The Prometheus text outpostd serves (fetched from inside the namespace)."""
        return self.run(role, ["curl", "-sS", "--max-time", "5", url]).stdout

    # ---- vendor peers (tests/lab/peers.py renders their configs) ----------------------

    @property
    def ca_cert(self):
        return peers.ensure_ca(self.rundir)[0]

    def make_cert(self, name):
        """(cert path, key path) for `name`, signed by the lab CA (SAN = name)."""
        return peers.make_cert(self.rundir, name)

    def start_nsd(self, role, listen, zones, name="nsd"):
        return peers.start_nsd(self, role, listen, zones, name)

    def start_kamailio(self, role="vendor", listen=("203.0.113.10",), cfg=None, name="kamailio",
                       auth=None, uas=None, websocket=None, tls=None):
        return peers.start_kamailio(self, role, listen, cfg, name, auth, uas, websocket, tls)

    def start_nginx(self, role="vendor", names=("www.vendor.example", "app.vendor.example", "wss.vendor.example"),
                    name="nginx"):
        return peers.start_nginx(self, role, names, name)

    def start_udp_echo(self, role, address, ports, name):
        return peers.start_udp_echo(self, role, address, ports, name)

    def start_vendor(self):
        return peers.start_vendor(self)

    def wireguard_keypair(self, name):
        """(private key file, base64 public key), made with `wg genkey` in the run dir."""
        return peers.wireguard_keypair(self.rundir, name)

    def wireguard_ifname(self, side):
        """A WireGuard interface name unique on the machine (wireguard-go's UAPI socket path
        is global, not per namespace): side "o" (outpost) or "v" (vendor)."""
        return f"wg{self.prefix[2:]}{side}"

    def start_backup_tunnel(self, name="wg-vendor", keepalive=None, carry_primary=False):
        """Starts the vendor's end of the encrypted backup (wireguard-go in the vendor
        namespace, listening on 192.0.2.6) and returns the `uplinks.backup` section for
        outpost's config (keys made with `wg genkey`).

        carry_primary=True (calls across a switch, vpn/README.md): the vendor also accepts
        outpost's primary address (198.51.100.1) from the tunnel and routes the primary's
        subnet into it at metric 100, behind its route over the private link, so when that
        route is withdrawn (cut_primary_fibre) replies to the same address take the tunnel."""
        t = BACKUP_TUNNEL
        outpost_key, outpost_pub = self.wireguard_keypair("outpost")
        vendor_key, vendor_pub = self.wireguard_keypair("vendor")
        allowed = [t["outpost_inner"].split("/")[0] + "/32"]
        if carry_primary:
            allowed.append(t["primary_address"] + "/32")
        vendor_if = self.wireguard_ifname("v")
        peers.start_wireguard(self, "vendor", name, vendor_if, t["vendor_inner"], t["port"],
                              vendor_key, outpost_pub, allowed, keepalive=keepalive)
        if carry_primary:
            self._ip("vendor", "route", "replace", t["primary_subnet"], "dev", vendor_if, "metric", "100")
        return {"interface": self.wireguard_ifname("o"), "underlay_interface": "inet0",
                "address": t["outpost_inner"], "private_key_file": str(outpost_key),
                "peer": {"public_key": vendor_pub, "endpoint": t["vendor_endpoint"], "keepalive": 5}}

    def cut_primary_fibre(self):
        """A fibre cut on the private link, as it is: outpost's wanp0 loses carrier (wanp's end
        goes down) and the POP withdraws its route to outpost's primary subnet (the wanp<->vendor
        link goes down at both ends, which deletes the vendor's route through it)."""
        self._ip("wanp", "link", "set", "out0", "down")
        self._ip("wanp", "link", "set", "ven0", "down")
        self._ip("vendor", "link", "set", "wanp0", "down")

    def mend_primary_fibre(self):
        """Undoes cut_primary_fibre: carrier first, then the POP's routes (make-before-break:
        outpost's side is up before the vendor routes replies over it again)."""
        self._ip("wanp", "link", "set", "out0", "up")
        self._ip("wanp", "link", "set", "ven0", "up")
        self._ip("vendor", "link", "set", "wanp0", "up")
        for role, dst, via in ROUTES:
            if role in ("wanp", "vendor"):
                self._ip(role, "route", "replace", dst, "via", via)

    def add_primary_overlay(self, kind, ident, wanp_address, outpost_subnet, port=4789):
        """The POP's end of a VLAN or VXLAN primary (uplinks.primary.vlan / .vxlan; outpost
        creates its own end): in wanp, a VLAN `ident` on out0 (kind "vlan") or a VXLAN with
        VNI `ident` toward outpost's wanp0 address (kind "vxlan"), with wanp_address on it;
        and the vendor's route to outpost_subnet through wanp. Returns the device's name."""
        if kind == "vlan":
            name = f"out0.{ident}"
            self._ip("wanp", "link", "add", "link", "out0", "name", name, "type", "vlan", "id", str(ident))
        else:
            name = f"vx{ident}"
            self._ip("wanp", "link", "add", name, "type", "vxlan", "id", str(ident), "remote", "198.51.100.1",
                     "local", "198.51.100.2", "dev", "out0", "dstport", str(port))
        self._ip("wanp", "addr", "replace", wanp_address, "dev", name)
        self._ip("wanp", "link", "set", name, "up")
        self._ip("vendor", "route", "replace", outpost_subnet, "via", "198.51.100.5")
        return name

    @property
    def www_files(self):
        """name -> path of the files nginx serves (1k.bin, 4m.bin), to compare downloads."""
        return peers.www_files(self.rundir)


# ---- CLI ------------------------------------------------------------------------------

def _existing_prefixes():
    return sorted(p.name[len("outpost-lab-"):] for p in RUN_ROOT.glob("outpost-lab-*") if p.is_dir())


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description="outpost's network-namespace lab")
    ap.add_argument("action", choices=("up", "down", "status"))
    ap.add_argument("--prefix", help="lab prefix (default: a new random one for up, all labs for status)")
    ap.add_argument("--keep", action="store_true", help="down: keep the run dir (logs, configs)")
    ap.add_argument("--stale", action="store_true", help="down: every lab whose owner process is gone")
    ap.add_argument("--build", default=os.environ.get("OUTPOST_BUILD", "build"), help="build directory")
    ap.add_argument("--vendor", action="store_true", help="up: also start the vendor peers")
    ap.add_argument("--outpostd", action="store_true", help="up: also start outpostd")
    args = ap.parse_args(argv)
    try:
        if args.action == "up":
            lab = Lab(build_dir=args.build, prefix=args.prefix)
            lab.up()
            try:
                if args.vendor:
                    lab.start_vendor()
                if args.outpostd:
                    lab.start_outpostd()
            except BaseException:
                lab.down()
                raise
            lab.detach()
            print("\n".join(lab.describe()))
            for peer in lab.peers.values():
                print(f"  peer {peer.name} pid {peer.pid} in {lab.ns(peer.role)}, log {peer.log_path}")
            print(f"tear down with: {sys.argv[0]} down --prefix {lab.prefix}")
        elif args.action == "down":
            if args.stale:
                labs = [lab for lab in map(Lab.attach, _existing_prefixes()) if lab.orphaned()]
            elif args.prefix:
                labs = [Lab.attach(args.prefix, keep=args.keep)]
            else:
                ap.error("down needs --prefix P or --stale (see `status`)")
            for lab in labs:
                print(f"tearing down lab {lab.prefix}")
                lab.down()
        else:
            names = set(_sh(["ip", "netns", "list"]).stdout.split())
            for prefix in [args.prefix] if args.prefix else _existing_prefixes():
                lab = Lab.attach(prefix)
                have = [r for r in ROLES if f"{prefix}-{r}" in names]
                owner = ("detached (CLI)" if lab._owner is None else
                         f"owner pid {lab._owner}" + (" GONE: lab.py down --stale" if lab.orphaned() else ""))
                print(f"lab {prefix}: namespaces {', '.join(have) or 'none'}; run dir {lab.rundir}; {owner}")
                for peer in lab.peers.values():
                    print(f"  {peer.name:<12} pid {peer.pid:<8} {'alive' if peer.alive() else 'exited'}")
    except LabError as e:
        print(f"lab: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
