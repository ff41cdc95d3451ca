"""pytest fixtures for outpost's integration tests (style of FRR's topotests).

    /usr/bin/python3 -m pytest -x -q tests/integration          # as root
    OUTPOST_BUILD=build-lab ...                                  # binaries from another build dir
    OUTPOST_LAB_KEEP=1 ...                                       # keep each lab's run dir (logs)

Fixtures:
  lab        module-scoped: the lab up, the vendor peers started, outpostd running with the
             lab config; torn down after the module (also on Ctrl-C / SIGTERM).
  lab_config the text outpostd was started with (to restore after a test edits the file).
When a test that used `lab` fails, the report shows the tail of every peer's log.
"""
import os

import pytest

from helpers import Lab, build_dir, needs_root


def pytest_collection_modifyitems(config, items):
    """Tests that use the lab are skipped, with the reason, when we are not root."""
    if os.geteuid() == 0:
        return
    for item in items:
        if "lab" in getattr(item, "fixturenames", ()):
            item.add_marker(needs_root)


@pytest.fixture(scope="module")
def lab():
    keep = os.environ.get("OUTPOST_LAB_KEEP", "") not in ("", "0")
    with Lab(build_dir=build_dir(), keep=keep) as the_lab:
        the_lab.binary("outpostd")  # a clear error if the build is missing
        the_lab.start_vendor()
        the_lab.start_outpostd()
        yield the_lab


@pytest.fixture(scope="module")
def lab_config(lab):
    return lab.config()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    the_lab = item.funcargs.get("lab") if hasattr(item, "funcargs") else None
    if report.failed and the_lab is not None and the_lab.rundir is not None:
        for peer in list(the_lab.peers.values()):
            state = "alive" if peer.alive() else f"exited {peer.returncode}"
            lines = 40 if peer.name == "outpostd" or not peer.alive() else 10
            report.sections.append((f"lab peer {peer.name} ({state}), {peer.log_path}", peer.log_tail(lines)))
