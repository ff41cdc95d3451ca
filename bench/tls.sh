#!/usr/bin/env bash
# bench/tls.sh: outpost's TLS passthrough against HAProxy 2.6 in TCP mode routing on the
# ClientHello SNI with a DNS look-up of the name (../shared/notes/tlsproxy.md, "haproxy_dyn"),
# and against a direct connection (the floor), in one run, in the netns lab (tests/lab):
#
#   wrk/curl in lan --> outpost         10.20.0.1:443   outpostd, tls.relay auto (the default: copy, splice(2) for bulk)
#                   --> outpost_copy    10.20.0.1:443   the same daemon reloaded with tls.relay copy
#                   --> outpost_splice  10.20.0.1:443   ... and with tls.relay splice
#                   --> haproxy         10.20.0.1:8443  do-resolve(SNI) via NSD 203.0.113.53, set-dst :443,
#                                                       SNI must end in .vendor.example (else rejected)
#                   --> haproxy_splice  10.20.0.1:8444  same + option splice-auto
#   wrk/curl in outpost --> direct      203.0.113.20:443 (no proxy: the floor)
#   all --> nginx www.vendor.example 203.0.113.20:443 in the vendor namespace (1 worker, lab CA)
#
# outpostd runs with dns, sip and the uplink manager off (the lab's static vendor route is
# used), so its CPU is the passthrough's (libunbound's thread included, as HAProxy's
# resolver is included in its own). The proxy is pinned to CPU1, wrk and curl to CPU0.
# Per case:
#   keepalive  wrk -t2 -c50 -dDUR https://www.vendor.example/1k.bin      -> req/s, proxy us/request
#   close      same + "Connection: close": one new TCP+TLS connection per request
#                                                                       -> conn/s, proxy us/conn
#   hs         HS_N sequential curl (no session reuse): p50 TLS-done time (time_appconnect), ms
#   bulk       BULK_N x curl of a BULK_MB MiB file                       -> MB/s, proxy CPU s/GB
# CPU = utime+stime of the proxy process from /proc/PID/stat over the run.
# Output: one line per case, then, for outpost and haproxy, the kernel's share (stime) of the
# CPU per new connection and the ratio outpost would reach with no user time at all, then
#   tls: outpost X us/conn, haproxy Y us/conn, ratio R      (R = HAProxy's CPU per new connection / outpost's)
# With REPS > 1 the cases run in turn REPS times and the summary lines are medians.
# Env: BUILD=build REPS=1 DUR=8 HS_N=100 BULK_MB=100 BULK_N=3 CASES="direct outpost outpost_copy outpost_splice haproxy haproxy_splice"
# Needs root, wrk, haproxy, curl, nginx, nsd, taskset. About 3 minutes. Timings are printed, never asserted.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
if [ "$(id -u)" != 0 ]; then echo "tls: SKIP (needs root for the netns lab)"; exit 0; fi
for b in wrk haproxy curl nginx nsd taskset unshare; do
  command -v "$b" >/dev/null || { echo "tls: SKIP (missing $b: apt-get install wrk haproxy curl nginx-light nsd)"; exit 0; }
done
[ -x "$ROOT/$BUILD/daemon/outpostd" ] || [ -x "$BUILD/daemon/outpostd" ] || { echo "tls: ERROR no outpostd in $BUILD"; exit 1; }

cd "$ROOT"
exec env BUILD="$BUILD" REPS="${REPS:-1}" DUR="${DUR:-8}" HS_N="${HS_N:-100}" BULK_MB="${BULK_MB:-100}" BULK_N="${BULK_N:-3}" \
  CASES="${CASES:-direct outpost outpost_copy outpost_splice haproxy haproxy_splice}" /usr/bin/python3 - <<'PY'
import os, re, statistics, subprocess, sys, time
sys.path.insert(0, "tests/lab")
from lab import Lab
import peers

BUILD, DUR, HS_N = os.environ["BUILD"], int(os.environ["DUR"]), int(os.environ["HS_N"])
REPS = int(os.environ["REPS"])
BULK_MB, BULK_N, CASES = int(os.environ["BULK_MB"]), int(os.environ["BULK_N"]), os.environ["CASES"].split()
NAME = "www.vendor.example"
HZ = os.sysconf("SC_CLK_TCK")

HAPROXY_CFG = """
global
    nbthread 1
    maxconn 4000
defaults
    mode tcp
    timeout connect 3s
    timeout client 600s
    timeout server 600s
    maxconn 4000
resolvers vendor
    nameserver nsd 203.0.113.53:53
    accepted_payload_size 1232
    hold valid 60s
    timeout resolve 1s
    timeout retry 1s
    resolve_retries 3
""" + "".join(f"""
frontend sni_{port}
    bind 10.20.0.1:{port}
    {'option splice-auto' if splice else ''}
    tcp-request inspect-delay 5s
    tcp-request content reject if {{ req.ssl_hello_type 1 }} !{{ req.ssl_sni -m end .vendor.example }}
    tcp-request content do-resolve(sess.dstip,vendor,ipv4) req.ssl_sni,lower if {{ req.ssl_hello_type 1 }}
    tcp-request content reject unless {{ var(sess.dstip) -m found }}
    tcp-request content set-dst var(sess.dstip)
    tcp-request content set-dst-port int(443)
    tcp-request content accept
    default_backend dynamic_{port}
backend dynamic_{port}
    {'option splice-auto' if splice else ''}
    server clear 0.0.0.0:0
""" for port, splice in ((8443, False), (8444, True)))


def cpu_split(pid):
    """(utime+stime, stime) of pid in seconds, from one read of /proc/PID/stat."""
    if pid is None:
        return 0.0, 0.0
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / HZ, int(f[12]) / HZ


def cpu(pid):
    return cpu_split(pid)[0]


def pin(pid, core):
    subprocess.run(["taskset", "-a", "-cp", str(core), str(pid)], check=True, capture_output=True)


with Lab(build_dir=BUILD) as lab:
    lab.start_nsd("vendor", "203.0.113.53", {"vendor.example": peers.VENDOR_ZONE})
    lab.start_nginx(names=(NAME,))
    www = lab.www_files["1k.bin"].parent
    bulk = www / "bulk.bin"
    with open(bulk, "wb") as f:
        f.write(os.urandom(1 << 20) * BULK_MB)
    bulk.chmod(0o644)
    hosts = {role: lab.write(f"hosts-{role}", f"127.0.0.1 localhost\n{addr} {NAME}\n")
             for role, addr in (("lan", "10.20.0.1"), ("outpost", "203.0.113.20"))}

    def config(relay):
        return lab.config(dns={"enabled": False}, sip={"enabled": False}, uplinks=None,
                          tls={"relay": relay, "per_client_rate": 100000, "max_connections": 100000})

    def wrk(role, port, close):
        url = f"https://{NAME}{'' if port == 443 else f':{port}'}/1k.bin"
        cmd = (f"mount --bind {hosts[role]} /etc/hosts && exec taskset -c 0 wrk -t 2 -c 50 -d {DUR}s "
               + ("-H 'Connection: close' " if close else "") + url)
        r = lab.run(role, ["unshare", "-m", "sh", "-c", cmd], timeout=DUR + 60, check=False)
        found = re.search(r"(\d+) requests in", r.stdout)
        if not found:  # killed or failed: report it, keep going
            return 0, f"wrk failed (exit {r.returncode})"
        n = int(found.group(1))
        errors = re.search(r"Socket errors: (.*)", r.stdout)
        return n, (errors.group(1) if errors else "")

    def curl(role, port, args):
        r = f"{NAME}:{port}:{'10.20.0.1' if role == 'lan' else '203.0.113.20'}"
        return lab.run(role, ["taskset", "-c", "0", "curl", "-sS", "--http1.1", "--cacert", str(lab.ca_cert),
                              "--resolve", r, *args], timeout=300).stdout

    def measure(case, role, port, pid):
        row = {}
        c0 = cpu(pid); n, errs = wrk(role, port, False); c1 = cpu(pid)
        row["keepalive_rps"] = n / DUR
        row["us_per_req"] = (c1 - c0) * 1e6 / n if pid and n else None
        c0, k0 = cpu_split(pid); n, errs2 = wrk(role, port, True); c1, k1 = cpu_split(pid)
        row["close_cps"] = n / DUR
        row["us_per_conn"] = (c1 - c0) * 1e6 / n if pid and n else None
        row["kernel_us_per_conn"] = (k1 - k0) * 1e6 / n if pid and n else None  # stime: system calls, TCP, softirqs
        row["wrk_errors"] = (errs + " " + errs2).strip() or "none"
        url = f"https://{NAME}{'' if port == 443 else f':{port}'}"
        times = curl(role, port, ["--no-sessionid", "-H", "Connection: close", "-w", "%{time_appconnect}\\n",
                                  *(["-o", "/dev/null", f"{url}/1k.bin"] * HS_N)]).split()
        row["tls_done_p50_ms"] = statistics.median(float(t) for t in times) * 1000
        c0 = cpu(pid); t0 = time.monotonic()
        sizes = curl(role, port, ["-w", "%{size_download}\\n", *(["-o", "/dev/null", f"{url}/bulk.bin"] * BULK_N)])
        t1 = time.monotonic(); c1 = cpu(pid)
        moved = sum(int(s) for s in sizes.split())
        row["bulk_MBps"] = moved / (t1 - t0) / 1e6
        row["cpu_s_per_GB"] = (c1 - c0) / (moved / 1e9) if pid else None
        return row

    results = {}
    outpost = haproxy = None
    if any(c.startswith("outpost") for c in CASES):
        outpost = lab.start_outpostd(config("auto"))
        pin(outpost.pid, 1)
        lab.run("lan", ["curl", "-s", "-o", "/dev/null", "--resolve", f"{NAME}:443:10.20.0.1", "-k",
                        f"https://{NAME}/1k.bin"], check=False)  # warm the name cache
    if any(c.startswith("haproxy") for c in CASES):
        cfg = lab.write("haproxy.cfg", HAPROXY_CFG)
        haproxy = lab.start("outpost", "haproxy", ["haproxy", "-db", "-f", cfg])
        lab.wait_until(lambda: lab.listening("outpost", "tcp", "10.20.0.1", 8444), what="haproxy listening")
        pin(haproxy.pid, 1)
    def line(label, row):
        return f"tls {label:15s} " + " ".join(
            f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v if v is not None else '-'}" for k, v in row.items())

    for rep, case in [(r, c) for r in range(REPS) for c in CASES]:
        if case == "direct":
            row = measure(case, "outpost", 443, None)
        elif case.startswith("outpost"):
            lab.write("outpost.yaml", config({"outpost": "auto", "outpost_copy": "copy", "outpost_splice": "splice"}[case]))
            assert lab.ctl("config", "reload")["ok"] is True
            row = measure(case, "lan", 443, outpost.pid)
        else:
            row = measure(case, "lan", 8443 if case == "haproxy" else 8444, haproxy.pid)
        results.setdefault(case, []).append(row)
        print(line(case, row) + (f" rep={rep + 1}" if REPS > 1 else ""), flush=True)

    def median_row(rows):
        out = {}
        for k in rows[0]:
            vals = [r[k] for r in rows if isinstance(r[k], float)]
            out[k] = statistics.median(vals) if vals else rows[-1][k]
        return out
    results = {case: median_row(rows) for case, rows in results.items()}
    if REPS > 1:
        for case, row in results.items():
            print(line(f"{case}(median)", row))
    floor = results.get("direct", {}).get("tls_done_p50_ms")
    for case, row in results.items():
        if case != "direct" and floor is not None:
            print(f"tls {case:15s} added_tls_done_ms={row['tls_done_p50_ms'] - floor:.3f} (vs direct)")
    if "outpost" in results and "haproxy" in results:
        o, h = results["outpost"]["us_per_conn"], results["haproxy"]["us_per_conn"]
        o_kernel = results["outpost"]["kernel_us_per_conn"]
        if o_kernel and o and h:  # what no change to outpost's own code can go below: its kernel time per connection
            print(f"tls: kernel time per new connection: outpost {o_kernel:.0f} us of {o:.0f}, haproxy "
                  f"{results['haproxy']['kernel_us_per_conn']:.0f} us of {h:.0f}; with no user time at all "
                  f"outpost would reach ratio {h / o_kernel:.2f}")
        if o and h:
            print(f"tls: outpost {o:.0f} us/conn, haproxy {h:.0f} us/conn, ratio {h / o:.2f}")
        else:
            print("tls: outpost - us/conn, haproxy - us/conn, ratio - (a wrk run failed)")
PY
