"""outpostd as a process: control socket, metrics, reload, shutdown, config checking.
Everything is asked from the lab's `outpost` namespace, as an operator on the appliance would."""
import re
import signal
from pathlib import Path

import pytest

from helpers import REPO, assert_subset, metric, needs_root, wait_json, wait_metric

pytestmark = needs_root

FILE_LINE_COL = r"outpost\.yaml:\d+:\d+: "
PROFILES = REPO / "daemon" / "profiles"


@pytest.fixture
def restore_config(lab, lab_config):
    """Puts the lab config back (and reloads it) after a test that rewrote the file."""
    yield lab.rundir / "outpost.yaml"
    lab.write("outpost.yaml", lab_config)
    if lab.peer("outpostd").alive():
        lab.ctl("config", "reload")


def broken_config(lab):
    """The lab config with a changed LAN address and two mistakes the loader must catch."""
    return lab.config(lan={"address": "10.20.0.2/24", "colour": "blue"},
                      uplinks={"primary": {"gateway": "198.51.100.9"}})


def test_status_answers_running_with_the_lab_config(lab):
    status = lab.ctl("status")
    assert_subset({"daemon": "outpostd", "state": "running", "lan_address": "10.20.0.1/24",
                   "vendor": "Lab vendor", "config_file": str(lab.rundir / "outpost.yaml"),
                   "control_socket": str(lab.control_socket),
                   "metrics": "http://127.0.0.1:9800/metrics"}, status, "status")
    assert status["pid"] == lab.peer("outpostd").pid

    config = lab.ctl("show", "config")
    assert_subset({"lan": {"interface": "lan0", "address": "10.20.0.1/24", "client_subnets": ["10.20.0.0/25"]},
                   "uplinks": {"primary": {"configured": True, "interface": "wanp0",
                                           "address": "198.51.100.1/30", "gateway": "198.51.100.2"}},
                   "vendor": {"profile": "lab", "resolvers": ["203.0.113.53:53"],
                              "prefixes": ["203.0.113.0/24"]},
                   "management": {"metrics": "127.0.0.1:9800"}}, config, "show config")


def test_status_for_humans(lab):
    r = lab.ctl("status", json=False)
    assert r.returncode == 0
    assert "running" in r.stdout and "10.20.0.1/24" in r.stdout


def test_show_version_matches_the_binary(lab):
    version = lab.ctl("show", "version")
    assert version["version"]
    printed = lab.run("outpost", [lab.binary("outpostd"), "--version"]).stdout
    assert printed.startswith(f"outpostd {version['version']} ")


def test_metrics_inside_the_outpost_namespace(lab):
    text = lab.metrics()
    assert metric(text, "outpost_build_info") == 1
    assert metric(text, "outpost_uptime_seconds") is not None
    # 127.0.0.1:9800 is the outpost namespace's loopback: the LAN namespace has nothing there.
    r = lab.run("lan", ["curl", "-sS", "--max-time", "3", "http://127.0.0.1:9800/metrics"], check=False)
    assert r.returncode != 0


def test_outpostctl_without_a_daemon_exits_3_and_says_why(lab):
    missing = lab.rundir / "no-such.sock"
    r = lab.run("outpost", [lab.binary("outpostctl"), "-s", missing, "status"], check=False)
    assert r.returncode == 3
    assert f"cannot reach outpostd at {missing}" in r.stderr
    assert "Is outpostd running?" in r.stderr


def test_unknown_command_exits_2(lab):
    reply = lab.ctl("frobnicate", "everything", check=False)
    assert reply.returncode == 2
    assert_subset({"ok": False, "code": 2}, reply, "reply")
    assert "unknown command" in reply["error"]
    human = lab.ctl("frobnicate", json=False, check=False)
    assert human.returncode == 2 and "unknown command" in human.stderr


def test_sighup_with_a_broken_config_is_refused(lab, restore_config):
    failed_before = metric(lab.metrics(), "outpost_config_reloads_total", result="failed")
    lab.write("outpost.yaml", broken_config(lab))
    lab.reload_outpostd()

    status = wait_json(lab, "status", {"state": "running", "last_reload": {"ok": False, "trigger": "SIGHUP"}})
    errors = status["last_reload"]["errors"]
    assert any(re.search(FILE_LINE_COL + r"unknown key 'colour'", e) for e in errors), errors
    assert any(re.search(FILE_LINE_COL + r"uplinks\.primary\.gateway", e) for e in errors), errors
    assert lab.peer("outpostd").alive()
    wait_metric(lab, "outpost_config_reloads_total", failed_before + 1, result="failed")
    assert metric(lab.metrics(), "outpost_config_last_reload_successful") == 0
    # The running configuration is the old one.
    assert lab.ctl("show", "config")["lan"]["address"] == "10.20.0.1/24"


def test_config_reload_applies_a_good_config(lab, restore_config):
    ok_before = metric(lab.metrics(), "outpost_config_reloads_total", result="ok")
    lab.write("outpost.yaml", lab.config(management={"log_level": "debug"}))
    reply = lab.ctl("config", "reload")
    assert_subset({"ok": True, "trigger": "control socket", "errors": []}, reply, "config reload")
    wait_json(lab, "status", {"state": "running", "last_reload": {"ok": True}})
    assert lab.ctl("show", "config")["management"]["log_level"] == "debug"
    wait_metric(lab, "outpost_config_reloads_total", ok_before + 1, result="ok")
    assert metric(lab.metrics(), "outpost_config_last_reload_successful") == 1


def test_config_reload_over_the_socket_refuses_a_broken_file(lab, restore_config):
    lab.write("outpost.yaml", broken_config(lab))
    r = lab.ctl("config", "reload", json=False, check=False)
    assert r.returncode == 1
    assert "refused" in r.stderr and re.search(FILE_LINE_COL, r.stderr), r.stderr
    assert lab.ctl("status")["state"] == "running"


def test_check_config_on_a_bad_file_exits_2_with_file_line_col(lab):
    bad = lab.write("bad/outpost.yaml", broken_config(lab))
    r = lab.run("outpost", [lab.binary("outpostd"), "--check-config", "-c", bad, "--profile-dir", PROFILES],
                check=False)
    assert r.returncode == 2
    assert re.search(rf"^{re.escape(str(bad))}:\d+:\d+: unknown key 'colour'", r.stderr, re.M), r.stderr
    good = lab.write("good/outpost.yaml", lab.config())
    r = lab.run("outpost", [lab.binary("outpostd"), "--check-config", "-c", good, "--profile-dir", PROFILES],
                check=False)
    assert r.returncode == 0, r.stderr


def test_sigterm_exits_0_and_removes_the_socket(lab, lab_config):
    peer = lab.peer("outpostd")
    assert lab.control_socket.exists()
    try:
        peer.signal(signal.SIGTERM)
        code = peer.wait(2.0)  # the bound; not a performance assertion
        assert code == 0, f"outpostd did not exit 0 within 2 s after SIGTERM (got {code})"
        assert not lab.control_socket.exists()
    finally:
        lab.stop("outpostd")
        lab.start_outpostd(lab_config)  # later tests in this module get a daemon again
    assert lab.ctl("status")["state"] == "running"


def test_open_file_limit_is_raised_to_the_hard_limit(lab, lab_config):
    """Four sockets per relayed stream: outpostd lifts the soft descriptor limit (1024 on most
    systems) to the hard one at start-up."""
    lab.stop("outpostd")
    try:
        peer = lab.start_outpostd(lab_config, wrapper=("prlimit", "--nofile=1024:8192"))
        limits = Path(f"/proc/{peer.pid}/limits").read_text()
        soft, hard = re.search(r"^Max open files\s+(\d+)\s+(\d+)", limits, re.M).groups()
        assert (soft, hard) == ("8192", "8192")
    finally:
        lab.stop("outpostd")
        lab.start_outpostd(lab_config)
    assert lab.ctl("status")["state"] == "running"
