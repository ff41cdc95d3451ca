"""Helpers for outpost's integration tests (import them in any tests/integration/test_*.py).

    from helpers import Lab, wait_json, metric, sip_request, udp_exchange, dig

Style of FRR's topotests: ask the daemon for `show ... --json` and compare with the
expected state, retrying until it matches or a deadline passes (wait_json); assert on what
peers answered and on counters, never on timings.
"""
import json
import os
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "lab"))

from lab import Lab, LabError, LabTimeout, VENDOR_HOSTS  # noqa: E402  (re-exported)

PYTHON = "/usr/bin/python3"
__all__ = ["REPO", "PYTHON", "Lab", "LabError", "LabTimeout", "VENDOR_HOSTS", "build_dir", "needs_root",
           "subset_diff", "assert_subset", "wait_json", "metric", "wait_metric", "udp_exchange", "tcp_connect",
           "sip_request", "dig"]


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the lab creates network namespaces "
                                 "(run as root: sudo /usr/bin/python3 -m pytest tests/integration)")


def build_dir():
    """The build directory under test: env OUTPOST_BUILD (default "build"), from the repo root."""
    return os.environ.get("OUTPOST_BUILD", "build")


# ---- JSON subset matching ---------------------------------------------------------------

def subset_diff(expected, actual, path="$"):
    """Where `actual` fails to contain `expected`: a list of "path: expected X, got Y" lines.
    Dicts: every expected key must be present and match (extra keys are fine). Lists: each
    expected element must match some actual element (order free). Scalars: equality."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {json.dumps(actual)}"]
        out = []
        for key, value in expected.items():
            if key not in actual:
                out.append(f"{path}.{key}: missing (expected {json.dumps(value)})")
            else:
                out += subset_diff(value, actual[key], f"{path}.{key}")
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{path}: expected a list, got {json.dumps(actual)}"]
        return [f"{path}[]: no element matches {json.dumps(item)}"
                for item in expected if not any(not subset_diff(item, a) for a in actual)]
    return [] if expected == actual else [f"{path}: expected {json.dumps(expected)}, got {json.dumps(actual)}"]


def assert_subset(expected, actual, what="reply"):
    diff = subset_diff(expected, actual)
    if diff:
        pytest.fail(f"{what} does not match:\n  " + "\n  ".join(diff) + f"\n{what}: {json.dumps(actual, indent=1)}",
                    pytrace=False)


def wait_json(lab, words, expected_subset, timeout=10):
    """Polls `outpostctl --json WORDS` until its answer contains expected_subset; returns the
    answer, or fails the test with the difference and the last answer."""
    if isinstance(words, str):
        words = words.split()
    seen = {}

    def matches():
        seen["reply"] = reply = lab.ctl(*words, check=False)
        return reply if not subset_diff(expected_subset, reply) else None
    try:
        return lab.wait_until(matches, timeout=timeout, interval=0.2, what=" ".join(words))
    except LabTimeout:
        reply = seen.get("reply")
        pytest.fail(f"`outpostctl {' '.join(words)}` did not reach the expected state in {timeout} s:\n  "
                    + "\n  ".join(subset_diff(expected_subset, reply))
                    + f"\nlast answer (exit {getattr(reply, 'returncode', '?')}): {json.dumps(reply, indent=1)}"
                    + (f"\nstderr: {reply.stderr.strip()}" if getattr(reply, "stderr", "") else ""), pytrace=False)


# ---- metrics --------------------------------------------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def metric(text, name, **labels):
    """The value of the sample `name` whose labels include `labels`, from Prometheus text;
    None if there is none."""
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if not m or m.group(1) != name:
            continue
        have = dict(_LABEL.findall(m.group(2) or ""))
        if all(have.get(k) == str(v) for k, v in labels.items()):
            return float(m.group(3))
    return None


def wait_metric(lab, name, value, timeout=10, **labels):
    """Waits until metric `name`{labels} equals value; returns it (fails the test otherwise)."""
    seen = {}

    def check():
        seen["v"] = metric(lab.metrics(), name, **labels)
        return seen["v"] == value
    try:
        lab.wait_until(check, timeout=timeout, interval=0.2, what=f"{name}{labels} == {value}")
    except LabTimeout:
        pytest.fail(f"metric {name}{labels}: expected {value}, last seen {seen.get('v')}", pytrace=False)
    return value


# ---- talking to peers from a namespace --------------------------------------------------

_UDP_EXCHANGE = r"""
import socket, sys
dst, port, source, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
payload, proto = bytes.fromhex(sys.argv[5]), sys.argv[6]
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
s.settimeout(timeout)
if source:
    s.bind((source, 0))
try:
    if proto == "tcp":
        s.connect((dst, port)); s.sendall(payload); data = s.recv(65535)
    else:
        s.sendto(payload, (dst, port)); data = s.recv(65535)
except OSError as e:
    print("ERROR", e); sys.exit(1)
print(data.hex())
"""


def udp_exchange(lab, role, dst, port, payload, source="", timeout=2.0, proto="udp"):
    """Sends payload (bytes) from a namespace and returns the first answer (bytes), or None
    if nothing came back within timeout seconds (or the send failed)."""
    r = lab.run(role, [PYTHON, "-c", _UDP_EXCHANGE, dst, str(port), source, str(timeout), payload.hex(), proto],
                check=False, timeout=timeout + 10)
    out = r.stdout.strip()
    return bytes.fromhex(out) if r.returncode == 0 and out else None


_TCP_CONNECT = r"""
import errno, socket, sys
s = socket.socket(); s.settimeout(float(sys.argv[3]))
try:
    s.connect((sys.argv[1], int(sys.argv[2]))); print("connected")
except ConnectionRefusedError:
    print("refused")
except socket.timeout:
    print("timeout")
except OSError as e:
    print("unreachable" if e.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH) else f"error {e}")
"""


def tcp_connect(lab, role, dst, port, timeout=2.0):
    """Tries a TCP connection from a namespace: "connected", "refused" (the host answered
    with a reset: reachable), "unreachable" (no route / ICMP unreachable) or "timeout"."""
    r = lab.run(role, [PYTHON, "-c", _TCP_CONNECT, dst, str(port), str(timeout)], timeout=timeout + 10)
    return r.stdout.strip()


def sip_request(lab, role, dst, method="OPTIONS", uri=None, source="", port=5060, proto="udp", headers=(),
                timeout=2.0):
    """Sends one SIP request from a namespace; returns the first response as text (None if
    none). The request has a fresh Via branch and Call-ID; `headers` are extra lines."""
    import uuid
    uri = uri or f"sip:{dst}"
    via_host = source or "0.0.0.0"
    lines = [f"{method} {uri} SIP/2.0",
             f"Via: SIP/2.0/{proto.upper()} {via_host}:5060;branch=z9hG4bK{uuid.uuid4().hex[:16]};rport",
             "Max-Forwards: 70",
             f"From: <sip:lab@{via_host}>;tag={uuid.uuid4().hex[:8]}",
             f"To: <{uri}>",
             f"Call-ID: {uuid.uuid4().hex}",
             f"CSeq: 1 {method}",
             *headers,
             "Content-Length: 0", "", ""]
    answer = udp_exchange(lab, role, dst, port, "\r\n".join(lines).encode(), source, timeout, proto)
    return answer.decode(errors="replace") if answer is not None else None


def dig(lab, role, server, name, qtype="A", extra=()):
    """`dig +short` from a namespace: the answer lines (empty list for no answer)."""
    r = lab.run(role, ["dig", "+short", "+time=2", "+tries=1", f"@{server}", name, qtype, *extra], check=False)
    return r.stdout.splitlines() if r.returncode == 0 else []


def sipp_client(lab, scenario, *args, port=5062, transport="u1", role="lan", local="10.20.0.10",
                remote="10.20.0.1:5060", timeout=40):
    """One SIPp call of tests/lab/<scenario> (sipp -m 1) from `local` in `role` to `remote`;
    errors go to <rundir>/sipp-<scenario>-<port>.err. Returns the finished process."""
    argv = ["sipp", remote, "-sf", f"{REPO}/tests/lab/{scenario}", "-i", local, "-p", str(port), "-t", transport,
            "-m", "1", "-nostdin", "-timeout", "30", "-timeout_error", "-max_recv_loops", "100",
            "-trace_err", "-error_file", f"{lab.rundir}/sipp-{scenario}-{port}.err", *args]
    return lab.run(role, argv, check=False, timeout=timeout)


def sipp_received(trace_path):
    """Every message a SIPp instance received (its -trace_msg file): (first line, whole text), in order."""
    out = []
    for block in trace_path.read_text(errors="replace").split("-----------------------------------------------"):
        if "message received" not in block:
            continue
        message = block.split("bytes :", 1)[-1].lstrip("\r\n")
        out.append((message.splitlines()[0] if message else "", message))
    return out
