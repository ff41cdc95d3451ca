"""The Debian package (`make deb`, pkg/build-deb.sh): built once per test run into a temporary
directory, checked by lintian, installed into a scratch root, its files, group and binaries
checked, outpostd run the way the unit runs it, then purged; the machine's own root (its dpkg
database, /etc, the package's paths) is never touched.

Scratch root: a private mount namespace (held open by a `sleep` started with `unshare -m`)
in which an overlayfs shows / as its read-only lower layer and a temporary directory as its
upper layer; fresh proc, /dev (null, zero, random, ...), /run and /tmp are mounted in it. Every
step runs there with `nsenter -m` + `chroot`, so `dpkg -i` and `dpkg --purge` write only into
the upper layer (and, /run being a fresh tmpfs, the maintainer scripts see no running systemd
and start nothing). When the holder process is killed the namespace and its mounts vanish, and
the directory is removed (try/finally). The last test checks that the host did not change.

OUTPOST_DEB=/path/to/outpost_X_arch.deb tests that file instead of building one (e.g. the
pkg/out/ package of `make deb`).

Run (as root; the package build takes 3-6 minutes on 2 cores, the rest about 15 s):
    /usr/bin/python3 -m pytest -q tests/integration/test_package.py
"""
import hashlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PKG = "outpost"
# A hard cap on the package build, so a wedged build cannot eat the CI budget.
BUILD_TIMEOUT = int(os.environ.get("OUTPOST_DEB_BUILD_TIMEOUT", "900"))

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mount namespace, overlayfs, chroot, dpkg -i)"),
    pytest.mark.skipif(shutil.which("dpkg-buildpackage") is None or shutil.which("lintian") is None,
                       reason="dpkg-dev or lintian missing (make deps)"),
]


def run(argv, timeout=120, check=True, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{shlex.join(map(str, argv))} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


# ---------------------------------------------------------------------------- the package

@pytest.fixture(scope="session")
def deb():
    if os.environ.get("OUTPOST_DEB"):
        path = Path(os.environ["OUTPOST_DEB"]).resolve()
        assert path.is_file(), f"OUTPOST_DEB={path}: no such file"
        yield path
        return
    out = Path(tempfile.mkdtemp(prefix="outpost-test-deb-"))
    keep = False
    try:
        # The debug-symbols package is not looked at here: skip making it.
        env = {**os.environ, "OUT": str(out), "DEB_BUILD_OPTIONS": "noautodbgsym"}
        # A session of its own, so a timeout kills dpkg-buildpackage, ninja and the compilers too.
        build = subprocess.Popen([str(REPO / "pkg" / "build-deb.sh")], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            output, _ = build.communicate(timeout=BUILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            # TERM first: build-deb.sh's EXIT trap removes its scratch copy of the tree.
            os.killpg(build.pid, signal.SIGTERM)
            try:
                build.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(build.pid, signal.SIGKILL)
                build.communicate()
            pytest.fail(f"pkg/build-deb.sh took more than {BUILD_TIMEOUT} s")
        if build.returncode != 0:
            keep = True  # build.log is the only full account of what went wrong
            pytest.fail(f"pkg/build-deb.sh failed ({build.returncode}), {out}/build.log kept:\n{output[-6000:]}")
        debs = sorted(out.glob(f"{PKG}_*.deb"))
        assert len(debs) == 1, f"expected one {PKG}_*.deb in {out}: {debs}"
        yield debs[0]
    finally:
        if not keep:
            shutil.rmtree(out, ignore_errors=True)


@pytest.fixture(scope="session")
def deb_files(deb):
    """Paths in the package, without the leading '.'."""
    r = run(["dpkg-deb", "-c", str(deb)])
    return {line.split(None, 5)[5].split(" -> ")[0].lstrip(".").rstrip("/") for line in r.stdout.splitlines()}


def test_lintian_reports_no_errors(deb):
    r = run(["lintian", "--display-info", "--pedantic", str(deb)], timeout=600, check=False)
    output = (r.stdout + r.stderr).strip()
    tags = [line for line in output.splitlines() if re.match(r"^[EWIPX]: ", line)]
    print(f"\nlintian {deb.name}:\n" + ("\n".join(tags) or "(no tags)"))
    errors = [line for line in tags if line.startswith("E: ")]
    assert not errors, "lintian errors:\n" + "\n".join(errors)
    assert r.returncode == 0, output


def test_package_metadata(deb):
    fields = run(["dpkg-deb", "-f", str(deb), "Package", "Architecture", "Depends", "Recommends"]).stdout
    assert f"Package: {PKG}" in fields
    assert "Architecture: all" not in fields
    # The postinst runs systemd-sysusers (dh_installsysusers), so the package depends on it.
    assert "systemd-sysusers" in fields, fields
    for recommended in ("wireguard-go", "nftables"):
        assert recommended in fields


def test_package_contents(deb_files):
    expected = {
        "/usr/sbin/outpostd", "/usr/bin/outpostctl",
        "/lib/systemd/system/outpostd.service",
        "/usr/lib/sysusers.d/outpost.conf",
        "/usr/share/bash-completion/completions/outpostctl",
        "/usr/share/doc/outpost/copyright",
        "/etc/outpost",
    }
    expected |= {f"/usr/share/man/man{p.suffix[1:]}/{p.name}.gz" for p in (REPO / "daemon" / "man").glob("*.[0-9]")}
    expected |= {f"/usr/share/outpost/profiles/{p.name}" for p in (REPO / "daemon" / "profiles").glob("*.yaml")}
    expected |= {f"/usr/share/doc/outpost/examples/{p.name}" for p in (REPO / "daemon" / "examples").glob("*.yaml")}
    assert len([f for f in expected if "/man/" in f]) == 3, "daemon/man/ should have outpostd.8, outpostctl.8, outpost.yaml.5"
    missing = sorted(expected - deb_files)
    assert not missing, f"not in the package: {missing}"
    # No configuration is shipped (see pkg/README.md), and nothing of the build leaks in.
    assert not any(f.startswith("/etc/outpost/") for f in deb_files), sorted(deb_files)
    assert not any("outpost_unit" in f or "/include/" in f for f in deb_files), sorted(deb_files)


# --------------------------------------------------------------------------- scratch root

class ScratchRoot:
    """An overlay of / in a private mount namespace; nothing written there reaches /."""

    DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="outpost-scratchroot-"))
        self.merged = self.dir / "merged"
        self.holder = None
        try:
            self._setup()
        except BaseException:
            self.close()
            raise

    def _setup(self):
        for d in ("upper", "work", "merged"):
            (self.dir / d).mkdir()
        self.holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sleep", "3600"])
        own = os.readlink("/proc/self/ns/mnt")
        deadline = time.monotonic() + 10
        while os.readlink(f"/proc/{self.holder.pid}/ns/mnt") == own:
            assert self.holder.poll() is None and time.monotonic() < deadline, "unshare -m did not start"
            time.sleep(0.01)
        m = str(self.merged)
        self.ns(["mount", "-t", "overlay", "overlay", "-o",
                 f"lowerdir=/,upperdir={self.dir}/upper,workdir={self.dir}/work", m])
        # Refuse to go on unless the overlay is really there: every later step writes through it.
        mounts = self.ns(["findmnt", "-n", "-o", "FSTYPE", m]).stdout.split()
        assert mounts == ["overlay"], f"overlay not mounted on {m}: {mounts}"
        self.ns(["mount", "-t", "proc", "proc", f"{m}/proc"])
        self.ns(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", f"{m}/run"])
        self.ns(["mount", "-t", "tmpfs", "-o", "mode=1777", "tmpfs", f"{m}/tmp"])
        self.ns(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", f"{m}/dev"])
        for node in self.DEV_NODES:
            self.ns(["touch", f"{m}/dev/{node}"])
            self.ns(["mount", "--bind", f"/dev/{node}", f"{m}/dev/{node}"])

    def ns(self, argv, **kw):
        """Runs argv in the scratch namespace (host paths, plus the merged root's mounts)."""
        return run(["nsenter", "-t", str(self.holder.pid), "-m", "--", *argv], **kw)

    def ns_argv(self, argv):
        return ["nsenter", "-t", str(self.holder.pid), "-m", "--", "chroot", str(self.merged), *argv]

    def sh(self, script, **kw):
        """Runs a shell script inside the scratch root."""
        return run(self.ns_argv(["/bin/sh", "-c", script]), **kw)

    def path(self, p):
        """A path inside the scratch root, for reading from the host side of the namespace."""
        return f"{self.merged}/{p.lstrip('/')}"

    def exists(self, p):
        return self.sh(f"test -e {shlex.quote(p)} || test -L {shlex.quote(p)}", check=False).returncode == 0

    def close(self):
        # Killing the holder ends the namespace: its mounts go with it (they were never on /).
        if self.holder is not None:
            if self.holder.poll() is None:
                self.holder.kill()
            self.holder.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


# Host files the package would change if it were ever installed for real.
HOST_FILES = ("/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow")


def host_state(paths):
    """What installing outpost on the host would change: dpkg's record of it, the account
    databases, and every path the package ships (plus the enablement symlink)."""
    status = run(["dpkg-query", "-W", "-f=${Status}", PKG], check=False)
    digests = {f: hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in HOST_FILES if os.path.exists(f)}
    present = sorted(p for p in paths if os.path.lexists(p))
    return {"dpkg": status.stdout.strip() if status.returncode == 0 else "not installed",
            "dpkg info": sorted(p.name for p in Path("/var/lib/dpkg/info").glob(f"{PKG}.*")),
            "accounts": digests, "present": present}


def host_paths(deb_files):
    # Directories every system has (/usr, /etc, ...) are not the package's.
    own = {f for f in deb_files if "outpost" in f}
    return own | {"/etc/systemd/system/multi-user.target.wants/outpostd.service", "/var/lib/outpost", "/run/outpost"}


@pytest.fixture(scope="module")
def host_before(deb_files):
    return host_state(host_paths(deb_files))


@pytest.fixture(scope="module")
def root(deb, host_before):
    r = ScratchRoot()
    try:
        r.ns(["cp", str(deb), r.path("/tmp/")])
        r.sh(f"DEBIAN_FRONTEND=noninteractive dpkg -i /tmp/{shlex.quote(deb.name)}", timeout=300)
        yield r
    finally:
        r.close()


# ------------------------------------------------------------------------------ installed

def test_installed_and_configured(root):
    assert root.sh(f"dpkg-query -W -f='${{Status}}' {PKG}").stdout == "install ok installed"


def test_binaries_run(root):
    assert root.exists("/usr/sbin/outpostd") and root.exists("/usr/bin/outpostctl")
    version = root.sh("/usr/sbin/outpostd --version").stdout
    assert re.match(r"outpostd \d+\.\d+\.\d+", version), version
    assert "usage: outpostctl" in root.sh("/usr/bin/outpostctl --help").stdout
    # No daemon: outpostctl says "unreachable" with its documented exit code.
    assert root.sh("/usr/bin/outpostctl status", check=False).returncode == 3


def test_unit_installed_unchanged_and_enabled(root):
    unit = "/lib/systemd/system/outpostd.service"
    assert root.exists(unit), "outpostd.service not installed"
    # The tree's unit, moved from /usr/lib (CMake) to /lib (bookworm's dh_installsystemd), not edited.
    assert "ExecStart=/usr/sbin/outpostd " in root.sh(f"cat {unit}").stdout
    # Enabled by the package (ConditionPathExists keeps it inactive until configured).
    assert root.exists("/etc/systemd/system/multi-user.target.wants/outpostd.service")
    # Verified as installed, unmodified: here ExecStart's binary exists.
    r = root.sh(f"systemd-analyze verify --man=no {unit}", check=False)
    assert r.returncode == 0 and (r.stdout + r.stderr).strip() == "", r.stdout + r.stderr


def test_user_and_group_created(root):
    """The postinst (dh_installsysusers: systemd-sysusers outpost.conf) makes the system group
    outpost, which owns the control socket, and the system user outpostd runs as."""
    assert re.search(r"^u outpost ", root.sh("cat /usr/lib/sysusers.d/outpost.conf").stdout, re.M)
    group = root.sh(f"getent group {PKG}", check=False)
    assert group.returncode == 0, "group outpost missing in the scratch root"
    gid = int(group.stdout.split(":")[2])
    assert gid < 1000, f"not a system group: {group.stdout}"
    passwd = root.sh(f"getent passwd {PKG}").stdout.strip().split(":")
    assert int(passwd[2]) < 1000 and int(passwd[3]) == gid, passwd
    assert passwd[5] == "/var/lib/outpost" and passwd[6].endswith("nologin"), passwd


def test_data_files(root):
    for profile in sorted((REPO / "daemon" / "profiles").glob("*.yaml")):
        assert root.exists(f"/usr/share/outpost/profiles/{profile.name}"), profile.name
    for example in sorted((REPO / "daemon" / "examples").glob("*.yaml")):
        assert root.exists(f"/usr/share/doc/outpost/examples/{example.name}"), example.name
    assert root.exists("/usr/share/doc/outpost/copyright")
    # The package ships no configuration: /etc/outpost is there, empty, for the operator.
    assert root.sh("ls -A /etc/outpost").stdout == ""
    # The shipped example passes outpostd's own check against the shipped profiles.
    assert root.sh("/usr/sbin/outpostd --check-config -c /usr/share/doc/outpost/examples/minimal.yaml",
                   check=False).returncode == 0


def test_man_pages_and_completion(root):
    pages = sorted((REPO / "daemon" / "man").glob("*.[0-9]"))
    assert pages, "no man pages in daemon/man/"
    for page in pages:
        section = page.suffix[1:]
        installed = f"/usr/share/man/man{section}/{page.name}.gz"
        assert ".TH " in root.sh(f"zcat {installed}").stdout, page.name
        # man finds it by name in the installed tree.
        name = page.name.rsplit(".", 1)[0]
        assert root.sh(f"man -w {section} {name}").stdout.strip() == installed
    assert "outpostctl" in root.sh("cat /usr/share/bash-completion/completions/outpostctl").stdout
    assert root.sh("bash -n /usr/share/bash-completion/completions/outpostctl").returncode == 0


def unit_service_settings(root):
    settings = {}
    for line in root.sh("cat /lib/systemd/system/outpostd.service").stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            settings.setdefault(key.strip(), value.strip())
    return settings


def capability_mask(names):
    """The /proc/PID/status bit mask of capability names, numbered as in linux/capability.h."""
    numbers = dict(re.findall(r"#define (CAP_[A-Z_]+)\s+(\d+)\s*$",
                              Path("/usr/include/linux/capability.h").read_text(), re.M))
    return sum(1 << int(numbers[n]) for n in names.split())


def test_daemon_runs_with_the_units_privileges(root, tmp_path):
    """outpostd from the package, started the way the unit starts it: its ExecStart, as
    User=/Group= with exactly AmbientCapabilities=/CapabilityBoundingSet=, no new privileges,
    UMask=, in the directories systemd would create (here in a fresh network namespace whose
    lo carries the LAN address). The control socket answers root and members of group
    outpost, and nobody else."""
    s = unit_service_settings(root)
    caps = ",".join(["-all"] + ["+" + c.lower().removeprefix("cap_") for c in s["AmbientCapabilities"].split()])
    bounding = ",".join(["-all"] + ["+" + c.lower().removeprefix("cap_") for c in s["CapabilityBoundingSet"].split()])
    exec_start = s["ExecStart"]
    config_file = exec_start.split(" -c ")[1].split()[0]
    root.sh(f"install -d -o {s['User']} -g {s['Group']} -m 0750 /run/outpost /run/wireguard /var/lib/outpost "
            f"&& mkdir -p /var/lib/outpost/cdr && chown {s['User']}: /var/lib/outpost/cdr")
    root.sh(f"cat > {config_file} && chmod 0640 {config_file} && chgrp {s['Group']} {config_file}",
            input="lan:\n  interface: lo\n  address: 10.20.0.1/24\nvendor:\n  profile: lab\n"
                  "media:\n  lan_ports: 10000-10999\n")
    assert root.sh(f"/usr/sbin/outpostd --check-config -c {config_file}").returncode == 0
    start = (f"ip link set lo up && ip addr add 10.20.0.1/24 dev lo && umask {s.get('UMask', '0022')} && "
             f"exec setpriv --reuid={s['User']} --regid={s['Group']} --init-groups --inh-caps={caps} "
             f"--ambient-caps={caps} --bounding-set={bounding} --no-new-privs -- {exec_start}")
    log_path = tmp_path / "outpostd.log"
    with open(log_path, "w") as log:
        daemon = subprocess.Popen(
            ["nsenter", "-t", str(root.holder.pid), "-m", "--", "unshare", "--net", "--",
             "chroot", str(root.merged), "/bin/sh", "-c", start], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while root.sh("outpostctl --json status", check=False).returncode != 0:
            assert daemon.poll() is None, f"outpostd exited {daemon.returncode}:\n{log_path.read_text()}"
            assert time.monotonic() < deadline, f"control socket never answered:\n{log_path.read_text()}"
            time.sleep(0.1)
        status = root.sh("outpostctl --json status").stdout
        assert '"running"' in status, status
        proc = root.sh(f"grep -E '^(Uid|CapEff|CapBnd|NoNewPrivs)' /proc/{daemon.pid}/status").stdout
        assert re.search(r"^Uid:\s+(\d+)", proc, re.M).group(1) == root.sh(f"id -u {s['User']}").stdout.strip()
        assert re.search(r"^NoNewPrivs:\s+1", proc, re.M), proc
        cap_eff = int(re.search(r"^CapEff:\s+([0-9a-f]+)", proc, re.M).group(1), 16)
        assert cap_eff == capability_mask(s["AmbientCapabilities"]), proc
        print(f"\noutpostd as {s['User']}:\n{proc}")
        sock = root.sh("stat -c '%a %U %G' /run/outpost/control.sock").stdout.split()
        assert sock == ["660", s["User"], s["Group"]], sock
        member = "setpriv --reuid=nobody --regid=nogroup --groups={g} -- outpostctl status"
        assert root.sh(member.format(g=s["Group"]), check=False).returncode == 0
        assert root.sh(member.format(g="nogroup"), check=False).returncode == 3
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=20) == 0, log_path.read_text()
        print(log_path.read_text())
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()


# ---------------------------------------------------------------------------------- purge

def test_purge_removes_everything(root):
    # What outpostd and the operator leave behind must go too.
    root.sh("mkdir -p /var/lib/outpost/cdr /etc/outpost /run/outpost && "
            "touch /var/lib/outpost/cdr/x.csv /etc/outpost/outpost.yaml")
    root.sh(f"DEBIAN_FRONTEND=noninteractive dpkg --purge {PKG}", timeout=300)
    assert root.sh(f"dpkg-query -W -f='${{Status}}' {PKG}", check=False).stdout.strip() in ("", "unknown ok not-installed")
    for gone in ("/usr/sbin/outpostd", "/usr/bin/outpostctl", "/lib/systemd/system/outpostd.service",
                 "/usr/lib/systemd/system/outpostd.service", "/usr/share/outpost", "/usr/share/doc/outpost",
                 "/usr/share/man/man8/outpostd.8.gz", "/usr/share/man/man8/outpostctl.8.gz",
                 "/usr/share/man/man5/outpost.yaml.5.gz", "/usr/share/bash-completion/completions/outpostctl",
                 "/usr/lib/sysusers.d/outpost.conf", "/etc/systemd/system/multi-user.target.wants/outpostd.service",
                 "/etc/outpost", "/var/lib/outpost", "/run/outpost"):
        assert not root.exists(gone), f"{gone} left after purge"
    # Debian's practice for system accounts: purge leaves the user and group (files elsewhere may
    # still belong to them, and a reinstall must get the same ids). pkg/README.md says so.
    assert root.sh(f"getent group {PKG}", check=False).returncode == 0
    assert root.sh(f"getent passwd {PKG}", check=False).returncode == 0


def test_host_root_untouched(host_before, root, deb_files):
    assert host_state(host_paths(deb_files)) == host_before
