#!/usr/bin/env bash
# bench/failover.sh: outpost's uplink failover against the best baseline that runs on this
# machine, FRR bfdd (50 ms x 3) driving eBGP with a floating static backup route (FRR 8.4's
# staticd cannot track BFD), in one run.
#
# outpost: the lab (tests/lab) without its static vendor route; outpostd routes 203.0.113.0/24
#   itself over wanp0 (primary) or WireGuard (wireguard-go both ends) over inet0, probes every
#   50 ms, loss_threshold 3, holddown 3 s.
#   A 100 pps UDP stream (absolute 10 ms deadlines) goes from the outpost namespace (source
#   chosen by the route) to the lab's media echo at 203.0.113.30:16384 in the vendor and back.
# baseline: ../shared/notes/uplinks-failover-bench.sh METHODS=bfd (its own two-namespace
#   topology, same 100 pps round-trip measurement, same failures).
# Failures, each REPS times, break at T_BREAK s, restore at T_RESTORE s, stream ends at T_END s:
#   drop  silent loss: nftables netdev ingress "policy drop" on the primary at both ends
#         (this kernel has no netem)
#   down  `ip link set DEV down` on the appliance's primary interface
#   call  (CALL=1, needs sipp) a SIPp call from the LAN through outpost and Kamailio to a
#         SIPp callee echoing RTP, 50 pps RTP from tests/lab/rtp_stream.py, and a fibre cut
#         (Lab.cut_primary_fibre: carrier loss at outpost, the POP's route withdrawn; the
#         vendor carries outpost's primary address over the tunnel, vpn/README.md "Calls
#         across a switch"); once, after the loops above.
# Outage = longest run of lost sequence numbers before the restore x 10 ms (failover);
# failback = packets lost after the restore x 10 ms (0 = make-before-break). For the call:
# RTP packets lost before / after the mend x 20 ms, and SIPp's exit status.
#
# Output: RESULT lines, then last:
#   failover: outpost X ms, baseline Y ms, ratio R
# for silent loss (medians; R = baseline / outpost).
# Env: BUILD=build REPS=3 FAILS="drop down" T_BREAK=2 T_RESTORE=7 T_END=12 BASELINE=1 CALL=1
# Needs root, a build, wireguard-go, wireguard-tools, nftables, frr (baseline). ~4 minutes.
# Timings are reported, never asserted.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
REPS=${REPS:-3}
FAILS=${FAILS:-"drop down"}
T_BREAK=${T_BREAK:-2}
T_RESTORE=${T_RESTORE:-7}
T_END=${T_END:-12}
BASELINE=${BASELINE:-1}
BASELINE_SCRIPT=${BASELINE_SCRIPT:-$ROOT/../shared/notes/uplinks-failover-bench.sh}
PYTHON=/usr/bin/python3
OUT=$(mktemp /tmp/outpost-failover.XXXXXX)
trap 'rm -f "$OUT"' EXIT

if [ "$(id -u)" != 0 ]; then echo "failover: skipped (needs root)"; exit 0; fi
for t in wireguard-go wg nft; do
  command -v $t >/dev/null || { echo "failover: skipped (missing $t)"; exit 0; }
done

echo "[failover] outpost: lab, REPS=$REPS FAILS=\"$FAILS\"" >&2
cd "$ROOT"
KEEP=${KEEP:-} CALL=${CALL:-1} BUILD=$BUILD REPS=$REPS FAILS=$FAILS T_BREAK=$T_BREAK T_RESTORE=$T_RESTORE T_END=$T_END \
  $PYTHON - <<'PYEOF' | tee -a "$OUT"
import json, os, statistics, subprocess, sys, threading, time
sys.path.insert(0, "tests/lab")
from lab import Lab, LabTimeout

REPS, FAILS = int(os.environ["REPS"]), os.environ["FAILS"].split()
T_BREAK, T_RESTORE, T_END = (float(os.environ[k]) for k in ("T_BREAK", "T_RESTORE", "T_END"))

# The stream: 100 pps, absolute deadlines, unbound socket (the route picks the source).
STREAM = r"""
import select, socket, sys, time
dst, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setblocking(False)
t0 = time.monotonic(); out = []
for i in range(1, count + 51):
    if i <= count:
        try: s.sendto(i.to_bytes(4, "big") + bytes(60), (dst, port))
        except OSError: pass
    deadline = t0 + i * 0.01
    while True:
        left = deadline - time.monotonic()
        if left <= 0: break
        if select.select([s], [], [], left)[0]:
            try:
                while True:
                    b = s.recv(128); out.append(f"R {int.from_bytes(b[:4], 'big')} {time.time():.6f}")
            except BlockingIOError: pass
print("\n".join(out)); print(f"S {count}")
"""

def measure(lab, fail):
    count = int(T_END * 100)
    p = subprocess.Popen(["ip", "netns", "exec", lab.ns("outpost"), sys.executable, "-c", STREAM,
                          "203.0.113.30", "16384", str(count)], stdout=subprocess.PIPE, text=True)
    time.sleep(T_BREAK)
    if fail == "drop":
        for role, dev in (("outpost", "wanp0"), ("wanp", "out0")):
            lab.run(role, ["nft", "add", "table", "netdev", "fofail"])
            lab.run(role, ["nft", "add", "chain", "netdev", "fofail", "in",
                           f'{{ type filter hook ingress device "{dev}" priority 0; policy drop; }}'])
    else:
        lab.run("outpost", "ip link set wanp0 down")
    time.sleep(T_RESTORE - T_BREAK)
    t_restore = time.time()
    if fail == "drop":
        for role in ("outpost", "wanp"):
            lab.run(role, "nft delete table netdev fofail")
    else:
        lab.run("outpost", "ip link set wanp0 up")
    out = p.communicate(timeout=T_END + 30)[0]
    rx, sent = {}, 0
    for line in out.splitlines():
        f = line.split()
        if f[0] == "R": rx.setdefault(int(f[1]), float(f[2]))
        elif f[0] == "S": sent = int(f[1])
    fo = fb = 0; last = 0; last_t = 0.0
    for s in range(1, sent + 1):
        if s in rx:
            if last and s - last > 1:
                ms = (s - last - 1) * 10
                if last_t < t_restore - 0.2: fo = max(fo, ms)
                else: fb += ms
            last, last_t = s, rx[s]
    return fo, fb, sent - len(rx)

with Lab(build_dir=os.environ["BUILD"], static_vendor_route=False, keep=bool(os.environ.get("KEEP"))) as lab:
    lab.start_vendor()
    backup = lab.start_backup_tunnel(carry_primary=True)
    lab.start_outpostd(lab.config(uplinks={"backup": backup, "probe": {
        "interval_ms": 50, "loss_threshold": 3, "holddown": 3}}))
    def active(path):
        lab.wait_until(lambda: (lambda s: s.get("active") == path and all(
            u["state"] == "up" for u in s.get("uplinks", [])))(lab.ctl("show", "uplinks")), timeout=30,
            what=f"{path} active, both up")
    active("primary")
    time.sleep(1)
    for fail in FAILS:
        res = []
        for rep in range(REPS):
            r = measure(lab, fail)
            print(f"[failover] outpost fail={fail} rep={rep + 1} failover_ms/failback_ms/lost: {r}", file=sys.stderr)
            res.append(r)
            active("primary"); time.sleep(1)
        fos = [r[0] for r in res]
        print(f"RESULT method=outpost fail={fail} reps={REPS} failover_min_ms={min(fos)} "
              f"failover_median_ms={int(statistics.median(fos))} failback_max_ms={max(r[1] for r in res)} "
              f"lost_pkts={','.join(str(r[2]) for r in res)}", flush=True)
    if os.environ.get("CALL") == "1" and subprocess.run(["sh", "-c", "command -v sipp"],
                                                          capture_output=True).returncode == 0:
        lab_dir = os.path.abspath("tests/lab")
        lab.stop("kamailio")
        lab.start_kamailio(auth={"alice": "secret"}, uas="sip:203.0.113.10:5070")
        lab.start("vendor", "sipp-uas-echo", ["sipp", "-sf", f"{lab_dir}/sipp_uas.xml", "-i", "203.0.113.10",
                                              "-p", "5070", "-nostdin", "-mi", "203.0.113.10", "-mp", "6000",
                                              "-rtp_echo"])
        lab.wait_until(lambda: lab.listening("vendor", "udp", "203.0.113.10", 5070), timeout=10, what="sipp uas")
        lab.wait_until(lambda: any(s.get("state") == "usable" for s in lab.ctl("show", "sip").get("servers", [])),
                       timeout=20, what="a usable SIP server")
        packets = int(T_END * 50)
        call = lab.start("lan", "sipp-call", [
            "sipp", "10.20.0.1:5060", "-sf", f"{lab_dir}/sipp_uac_auth.xml", "-i", "10.20.0.10", "-p", "5090",
            "-mi", "10.20.0.10", "-mp", "6100", "-m", "1", "-nostdin", "-timeout", str(int(T_END) + 40),
            "-timeout_error", "-s", "bob", "-au", "alice", "-ap", "secret", "-set", "caller", "alice",
            "-d", str(int(T_END * 1000) + 3000)])
        row = lab.wait_until(lambda: [c for c in lab.ctl("show", "calls").get("calls", [])
                                      if c.get("state") == "confirmed" and c.get("media")], timeout=20,
                             what="the call confirmed")[0]
        rtp = lab.start("lan", "rtp-stream", [sys.executable, f"{lab_dir}/rtp_stream.py", "10.20.0.10:7100",
                                              row["media"][0]["lan"]["local"], packets, 20])
        sent = lambda: [int(l.split()[1]) for l in rtp.log_text().splitlines() if l.startswith("sent ")]
        time.sleep(T_BREAK)
        lab.cut_primary_fibre()
        time.sleep(T_RESTORE - T_BREAK)
        mend_at = (sent() or [0])[-1]
        lab.mend_primary_fibre()
        rtp.wait(T_END + 30)
        got = set(json.loads(rtp.log_text().strip().splitlines()[-1])["received"])
        warm = 50  # before the LAN leg latched
        fo = len([q for q in range(warm, mend_at) if q not in got])
        fb = len([q for q in range(mend_at, packets) if q not in got])
        code = call.wait(T_END + 60)
        print(f"RESULT method=outpost fail=call rtp_lost_failover={fo} failover_ms={fo * 20} "
              f"rtp_lost_failback={fb} sipp_exit={code} calls_dropped={0 if code == 0 else 1}", flush=True)
    hist = lab.ctl("show", "uplinks")["history"]
    for h in hist[:4]:
        print(f"[failover] outpost switch {h['from']}->{h['to']} gap {h['gap_ms']} ms: {h['reason']}", file=sys.stderr)
PYEOF

if [ "$BASELINE" = 1 ] && [ -x /usr/lib/frr/bfdd ] && [ -f "$BASELINE_SCRIPT" ]; then
  echo "[failover] baseline: FRR bfdd 50x3 + bgpd + floating static ($BASELINE_SCRIPT)" >&2
  METHODS=bfd REPS=$REPS FAILS=$FAILS bash "$BASELINE_SCRIPT" | grep '^RESULT' | tee -a "$OUT" || true
else
  echo "RESULT method=bfd status=skipped reason=no-frr-or-script" | tee -a "$OUT"
fi

med() { sed -n "s/^RESULT method=$1 fail=$2 .*failover_median_ms=\([0-9]*\).*/\1/p" "$OUT" | head -1; }
fbmax() { sed -n "s/^RESULT method=$1 fail=$2 .*failback_max_ms=\([0-9]*\).*/\1/p" "$OUT" | head -1; }
# The issue's targets: silent loss < 150 ms, link down < 50 ms, 0 calls dropped, 0 lost on failback.
verdict() { [ -n "$1" ] && [ "$1" -lt "$2" ] && echo met || echo "not met"; }
X=$(med outpost drop); Y=$(med bfd drop)
D=$(med outpost down); DB=$(med bfd down)
echo "failover (silent loss): outpost ${X:-na} ms (target < 150 ms: $(verdict "$X" 150)), baseline ${Y:-na} ms;" \
  "failback lost: outpost $(fbmax outpost drop || true) ms, baseline $(fbmax bfd drop || true) ms"
echo "failover (link down): outpost ${D:-na} ms (target < 50 ms: $(verdict "$D" 50)), baseline ${DB:-na} ms;" \
  "failback lost: outpost $(fbmax outpost down || true) ms, baseline $(fbmax bfd down || true) ms"
CALLR=$(grep '^RESULT method=outpost fail=call' "$OUT" | head -1 || true)
if [ -n "$CALLR" ]; then
  echo "failover (call, fibre cut): outpost $(sed -n 's/.* failover_ms=\([0-9]*\).*/\1/p' <<<"$CALLR") ms of RTP lost," \
    "failback $(sed -n 's/.*rtp_lost_failback=\([0-9]*\).*/\1/p' <<<"$CALLR") packets lost," \
    "calls dropped $(sed -n 's/.*calls_dropped=\([0-9]*\).*/\1/p' <<<"$CALLR") (target 0)"
fi
if [ -n "$X" ] && [ -n "$Y" ]; then
  R=$(awk -v x="$X" -v y="$Y" 'BEGIN { if (x > 0) printf "%.2f", y / x; else print "inf" }')
  echo "failover: outpost ${X} ms, baseline ${Y} ms, ratio ${R}"
else
  echo "failover: outpost ${X:-na} ms, baseline ${Y:-na} ms, ratio na"
fi
