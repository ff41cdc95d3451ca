#!/usr/bin/env bash
# bench/sip.sh: outpost's SIP proxy against Kamailio 5.6 configured as the equivalent
# stateful, record-routing proxy (tm, rr, t_relay of every request to one backend; the
# shm allocator tlsf, as in ../shared/notes/sip.md), and, for calls, against Kamailio +
# rtpengine anchoring the media as outpost does, in one run, on loopback:
#
#   SIPp UAC 127.0.0.81 --> proxy under test ----------------------> backend SIPp 127.0.0.23
#     outpost   LAN 127.0.0.82:5062 (uplink side 127.0.0.1:5062)      calls:    UAS :15070
#     kamailio  127.0.0.21:15060 (KAM_MEM=tlsf, CHILDREN=2 UDP workers) register: registrar :15071
#     kamrtp    the same Kamailio (-A WITH_RTPENGINE) + rtpengine 10.5 in userspace (table -1,
#               CHILDREN threads): ng 127.0.0.26:22226, media on 127.0.0.26 ports 30000-39999
#
# outpost always anchors a call's media: it rewrites the SDP of the INVITE and the 200 and
# allocates relay ports per call. Plain kamailio only proxies signalling; kamrtp is what an SBC
# user would build for the same job: rtpengine_manage() on the INVITE (offer), in an
# onreply_route on the replies with SDP (answer) and on the BYE (delete), flags
# "replace-origin replace-session-connection ICE=remove"; an INVITE whose offer fails is
# refused with 503, so every completed call was anchored. kamrtp runs in the call case only.
# Cases, each at a fixed offered rate for DUR s, proxies restarted per case:
#   register  REGISTER_RATE REGISTERs/s, every one a new AOR (no auth; outpost's throttling
#             never applies: each is a first registration), backend answers 200 with the Contact
#   call      CALL_RATE calls/s: INVITE/180/200/ACK/BYE/200 (no hold), through the proxy's
#             Record-Route (ACK and BYE follow the route set)
# Per proxy and case: completed and failed (SIPp's counters), retransmissions, achieved
# rate, and the proxy's CPU (the scheduler's CPU clock of all its processes, every thread,
# over the run: cpu_us in lib.sh; for kamrtp every Kamailio process plus rtpengine).
# Transactions: one per REGISTER, two per call (INVITE and BYE; the ACK of a 2xx is none).
# Output: one line per proxy and case (for kamrtp one more with rtpengine's share: sessions
# it managed, its CPU, errors in its log), one "sip: ... cps" line with the call rates
# achieved, then, when kamrtp ran,
#   sip: call with media anchored: outpost X us/call, kamailio+rtpengine Y us/call, ratio R
# (call case only, R = kamrtp / outpost), and last
#   sip: outpost X us/txn, kamailio Y us/txn, ratio R        (R = kamailio / outpost)
# with X and Y over both cases. With REPS > 1 the whole set runs REPS times (the order of the
# proxies alternating, so a drift of the machine's speed favours neither), each round prints
# its own "sip: round N: ..." line, and the last line holds the medians of the rounds: this
# machine's speed moves by 10-20 % from one minute to the next, for both proxies alike. kamrtp is skipped with "sip: kamrtp skipped (...)" when
# rtpengine or Kamailio's rtpengine module is missing or rtpengine does not start.
# The pass criterion per run is < 0.1 % failed; a run over it is marked FAILED.
# Env: BUILD=build DUR=8 REPS=1 CALL_RATE=300 REGISTER_RATE=1000 CHILDREN=2 KAM_MEM=tlsf PIN=0
#      CASES="register call" PROXIES="outpost kamailio kamrtp"
# Needs sipp (sip-tester), kamailio, taskset, python3 (cpu_us); for kamrtp rtpengine (rtpengine-daemon) and
# curl. No root needed (ports > 1024). Timings are printed, never asserted. About 45 s a
# round with PROXIES="outpost kamailio", 70 s with kamrtp.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
OUTPOSTD=$BUILD/daemon/outpostd
DUR=${DUR:-8}
CALL_RATE=${CALL_RATE:-300}
REGISTER_RATE=${REGISTER_RATE:-1000}
CHILDREN=${CHILDREN:-2}
KAM_MEM=${KAM_MEM:-tlsf}
PIN=${PIN:-0}
CASES=${CASES:-"register call"}
PROXIES=${PROXIES:-"outpost kamailio kamrtp"}
OP_IP=127.0.0.82; OP_PORT=5062
KIP=127.0.0.21; KPORT=15060
BACK_IP=127.0.0.23; UAS_PORT=15070; REG_PORT=15071
UAC_IP=127.0.0.81; UAC_PORT=15080
RTPE_IP=127.0.0.26; RTPE_NG_PORT=22226; RTPE_HTTP_PORT=22227
KAM_MODULES=/usr/lib/x86_64-linux-gnu/kamailio/modules

for b in sipp kamailio awk ss; do
  command -v "$b" >/dev/null || { echo "sip: SKIP (missing $b: apt-get install sip-tester kamailio iproute2)"; exit 0; }
done
[ -x "$OUTPOSTD" ] || { echo "sip: ERROR no $OUTPOSTD (make BUILD=...)"; exit 1; }
case " $PROXIES " in *" kamrtp "*)
  why=""
  if ! command -v rtpengine >/dev/null; then why="no rtpengine: apt-get install rtpengine-daemon"
  elif [ ! -f "$KAM_MODULES/rtpengine.so" ]; then why="no $KAM_MODULES/rtpengine.so"
  elif ! command -v curl >/dev/null; then why="no curl"
  elif [ "$(rtpengine --version 2>&1 | sed -n 's/^Version: *\([0-9]*\)\..*/\1/p')" -lt 10 ] 2>/dev/null; then
    why="rtpengine older than 10"
  fi
  if [ -n "$why" ]; then
    echo "sip: kamrtp skipped ($why)"
    PROXIES=$(echo " $PROXIES " | sed 's/ kamrtp / /g')
  fi ;;
esac

RUN=$(mktemp -d /tmp/outpost-sip-bench.XXXXXX)
PROXY_PID="" BACK_PID="" RTPE_PID=""
. "$(dirname "$0")/lib.sh"  # stop_pid, cpu_us, quotient, median, rtpengine_conf
cleanup() {
  stop_pid "$PROXY_PID"; PROXY_PID=""
  stop_pid "$BACK_PID"; BACK_PID=""
  stop_pid "$RTPE_PID"; RTPE_PID=""
  rm -rf "$RUN"
}
trap cleanup EXIT INT TERM

pin() { if [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ]; then echo "taskset -c $1"; fi; }
port_up() {  # udp ip port
  for _ in $(seq 1 100); do
    ss -Hlun "src $1:$2" 2>/dev/null | grep -q . && return 0
    sleep 0.05
  done
  return 1
}
csv_field() {  # FILE COLUMN -> value on the last line of a SIPp -stf file
  awk -F';' -v c="$2" 'NR==1{for(i=1;i<=NF;i++) if($i==c) k=i} END{print (k? $k : 0)}' "$1"
}

# ---------- scenarios (SIPp XML) ----------
# The pieces the scenarios share, each written once (the heredocs hold no $, ` or \).
sdp_body() {  # the offer and the answer (one PCMU stream), to the end of the <send>
  cat <<'EOF'
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]></send>
EOF
}
uac_in_dialog() {  # METHOD CSEQ SEND_ATTRIBUTES: the caller's ACK or BYE along the route set
  cat <<EOF
  <send $3><![CDATA[

      $1 [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: <sip:caller@bench.example>;tag=[pid]B[call_number]
      To: <sip:[service]@bench.example>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: $2 $1
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
EOF
}
uas_answer() {  # STATUS SEND_ATTRIBUTES: the callee's 180 or 200 to the INVITE, up to its Contact
  cat <<EOF
  <send$2><![CDATA[

      SIP/2.0 $1
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]U[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      [last_Record-Route:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
EOF
}
{
  cat <<'EOF'
<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="bench uac">
  <send retrans="500" start_txn="invite"><![CDATA[

      INVITE sip:[service]@bench.example SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:caller@bench.example>;tag=[pid]B[call_number]
      To: <sip:[service]@bench.example>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:caller@[local_ip]:[local_port]>
      Max-Forwards: 70
EOF
  sdp_body
  cat <<'EOF'
  <recv response="100" optional="true" response_txn="invite"/>
  <recv response="180" optional="true" response_txn="invite"/>
  <recv response="200" rrs="true" response_txn="invite"/>
EOF
  uac_in_dialog ACK 1 'ack_txn="invite"'
  uac_in_dialog BYE 2 'retrans="500" start_txn="bye"'
  cat <<'EOF'
  <recv response="200" response_txn="bye"/>
</scenario>
EOF
} > "$RUN/uac.xml"
{
  cat <<'EOF'
<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="bench uas">
  <recv request="INVITE" crlf="true"/>
EOF
  uas_answer "180 Ringing" ""
  cat <<'EOF'
      Content-Length: 0

    ]]></send>
EOF
  uas_answer "200 OK" ' retrans="500"'
  sdp_body
  cat <<'EOF'
  <recv request="ACK" crlf="true"/>
  <recv request="BYE"/>
  <send><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]></send>
  <timewait milliseconds="2000"/>
</scenario>
EOF
} > "$RUN/uas.xml"
cat > "$RUN/register.xml" <<'EOF'
<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="bench register">
  <send retrans="500"><![CDATA[

      REGISTER sip:bench.example SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:u[call_number]@bench.example>;tag=[pid]R[call_number]
      To: <sip:u[call_number]@bench.example>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:u[call_number]@[local_ip]:[local_port]>;expires=3600
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
  <recv response="200"/>
</scenario>
EOF
cat > "$RUN/registrar.xml" <<'EOF'
<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="bench registrar">
  <recv request="REGISTER"/>
  <send><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]G[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      [last_Contact:]
      Content-Length: 0

    ]]></send>
</scenario>
EOF

# ---------- proxies ----------
cat > "$RUN/kamailio.cfg" <<EOF
#!KAMAILIO
debug=1
log_stderror=yes
memdbg=5
memlog=5
children=$CHILDREN
listen=udp:$KIP:$KPORT
disable_tcp=yes
auto_aliases=no
dns=no
rev_dns=no
use_dns_cache=off
maxbuffer=4194304
mpath="$KAM_MODULES/"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "textops.so"
loadmodule "sanity.so"
modparam("tm", "fr_timer", 4000)
modparam("tm", "fr_inv_timer", 30000)
modparam("rr", "enable_full_lr", 0)
#!ifdef WITH_RTPENGINE
loadmodule "rtpengine.so"
modparam("rtpengine", "rtpengine_sock", "udp:$RTPE_IP:$RTPE_NG_PORT")
#!define RTPE_FLAGS "replace-origin replace-session-connection ICE=remove"
#!endif
request_route {
	if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
	if (!sanity_check("17895", "7")) exit;
	if (has_totag()) {
		if (loose_route()) {
#!ifdef WITH_RTPENGINE
			if (is_method("BYE")) rtpengine_manage();
#!endif
			if (!t_relay()) sl_reply_error();
			exit;
		}
		if (is_method("ACK")) { if (t_check_trans()) t_relay(); exit; }
		sl_send_reply("404", "Not here");
		exit;
	}
	if (is_method("CANCEL")) { if (t_check_trans()) t_relay(); exit; }
	t_check_trans();
	remove_hf("Route");
	if (is_method("INVITE|SUBSCRIBE")) record_route();
#!ifdef WITH_RTPENGINE
	if (is_method("INVITE") && has_body("application/sdp")) {
		if (!rtpengine_manage(RTPE_FLAGS)) { sl_send_reply("503", "Media relay unavailable"); exit; }
		t_on_reply("MEDIA_ANSWER");
	}
#!endif
	\$du = BACKEND;
	if (!t_relay()) sl_reply_error();
	exit;
}
#!ifdef WITH_RTPENGINE
onreply_route[MEDIA_ANSWER] {
	if (has_body("application/sdp") || \$rs >= 300) rtpengine_manage(RTPE_FLAGS);
}
#!endif
EOF
# rtpengine as in bench/media.sh (userspace, no kernel forwarding), on its own address and
# ports; /metrics on listen-http tells how many sessions it really managed.
rtpengine_conf "$RUN/rtpengine.conf" sip "$RTPE_IP" "$RTPE_IP:$RTPE_NG_PORT" 30000 39999 "$RTPE_IP:$RTPE_HTTP_PORT"

outpost_yaml() {  # backend port
  cat > "$RUN/outpost.yaml" <<EOF
lan:
  interface: lo
  address: $OP_IP/30
  client_subnets: [$UAC_IP/32]
vendor:
  fqdns: [bench.example]
  prefixes: [$BACK_IP/32]
  sip_servers:
    - {host: "$BACK_IP", port: $1, transport: udp}
dns: {enabled: false}
tls: {enabled: false}
sip:
  udp_port: $OP_PORT
  tcp_port: $OP_PORT
  tls_port: 0
  rate_limit: {per_second: 0}
management:
  control_socket: $RUN/control.sock
  metrics_enabled: false
  state_dir: $RUN/state
  log_level: warning
EOF
}

start_proxy() {  # proxy backend_port -> PROXY_PID, PROXY_PIDS, TARGET; 1 when kamrtp cannot run
  local rtpe_def=()
  case $1 in
    outpost)
      outpost_yaml "$2"
      $(pin 1) "$OUTPOSTD" -f -c "$RUN/outpost.yaml" >"$RUN/outpost.log" 2>&1 &
      PROXY_PID=$!
      port_up "$OP_IP" "$OP_PORT" || { echo "sip: ERROR outpostd did not start"; tail -5 "$RUN/outpost.log"; exit 1; }
      PROXY_PIDS=$PROXY_PID
      TARGET=$OP_IP:$OP_PORT ;;
    kamailio|kamrtp)
      if [ "$1" = kamrtp ]; then
        $(pin 1) rtpengine --config-file="$RUN/rtpengine.conf" --config-section=sip --num-threads="$CHILDREN" \
          --pidfile="$RUN/rtpengine.pid" >"$RUN/rtpengine.log" 2>&1 &
        RTPE_PID=$!
        port_up "$RTPE_IP" "$RTPE_NG_PORT" || { echo "sip: kamrtp skipped (rtpengine did not start: $(tail -1 "$RUN/rtpengine.log"))"; return 1; }
        rtpe_def=(-A WITH_RTPENGINE)
      fi
      local mem=()
      [ -n "$KAM_MEM" ] && mem=(-x "$KAM_MEM")
      $(pin 1) kamailio -DD -E -f "$RUN/kamailio.cfg" -n "$CHILDREN" -m 1024 -M 16 -Y "$RUN" "${mem[@]}" \
        -A "BACKEND=\"sip:$BACK_IP:$2\"" "${rtpe_def[@]}" >"$RUN/kamailio.log" 2>&1 &
      PROXY_PID=$!
      if ! port_up "$KIP" "$KPORT"; then
        [ "$1" = kamrtp ] && { echo "sip: kamrtp skipped (kamailio did not start: $(grep -m1 -i error "$RUN/kamailio.log"))"; return 1; }
        echo "sip: ERROR kamailio did not start"; tail -5 "$RUN/kamailio.log"; exit 1
      fi
      sleep 0.3
      PROXY_PIDS="$PROXY_PID $(pgrep -P "$PROXY_PID" | tr '\n' ' ') $RTPE_PID"
      TARGET=$KIP:$KPORT ;;
  esac
}

# rtpengine's share of a kamrtp run: sessions it managed (its /metrics), CPU, log errors
rtpengine_line() {  # cpu_us_of_rtpengine
  local sessions ended errors
  curl -s -m 2 "http://$RTPE_IP:$RTPE_HTTP_PORT/metrics" >"$RUN/rtpengine.metrics" 2>/dev/null || true
  sessions=$(awk '$1 == "rtpengine_sessions_total" {print $2}' "$RUN/rtpengine.metrics")
  ended=$(awk '$1 == "rtpengine_closed_sessions_total{reason=\"terminated\"}" {print $2}' "$RUN/rtpengine.metrics")
  errors=$(grep -ciE 'error|warn' "$RUN/rtpengine.log" || true)
  errors="$errors errors/warnings in its log, $(grep -ci 'ERROR' "$RUN/kamailio.log" || true) errors in Kamailio's"
  printf 'sip: %-8s %-8s rtpengine: %s sessions managed, %s deleted, CPU %d ms (in the proxy CPU above), %s\n' \
    kamrtp call "${sessions:-?}" "${ended:-?}" $(($1 / 1000)) "$errors"
}

declare -A CPU_US TXN RATE_ACHIEVED CALL_US CALLS
run_case() {  # proxy case
  local proxy=$1 case=$2 rate scen back_port back_scen m csv="$RUN/stat_$1_$2.csv"
  if [ "$case" = call ]; then rate=$CALL_RATE scen=uac.xml back_port=$UAS_PORT back_scen=uas.xml
  else rate=$REGISTER_RATE scen=register.xml back_port=$REG_PORT back_scen=registrar.xml; fi
  m=$((rate * DUR))
  $(pin 0) sipp -sf "$RUN/$back_scen" -i "$BACK_IP" -p "$back_port" -nostdin -buff_size 4194304 \
    >"$RUN/back.out" 2>&1 </dev/null &
  BACK_PID=$!
  port_up "$BACK_IP" "$back_port" || { echo "sip: ERROR backend sipp did not start"; exit 1; }
  if ! start_proxy "$proxy" "$back_port"; then
    stop_pid "$PROXY_PID"; PROXY_PID=""; stop_pid "$RTPE_PID"; RTPE_PID=""
    stop_pid "$BACK_PID"; BACK_PID=""
    return 0
  fi
  rm -f "$RUN/state"/*.json 2>/dev/null || true
  local t0 t1 w0 w1
  local rtpe_t0=0
  [ -n "$RTPE_PID" ] && rtpe_t0=$(cpu_us "$RTPE_PID")
  t0=$(cpu_us $PROXY_PIDS); w0=$(date +%s.%N)
  $(pin 0) sipp "$TARGET" -sf "$RUN/$scen" -i "$UAC_IP" -p "$UAC_PORT" -s bench -r "$rate" -rp 1000 -m "$m" \
    -l 100000 -nostdin -buff_size 4194304 -recv_timeout 8000 -timeout $((DUR + 25)) -trace_stat -stf "$csv" \
    -fd 1 >"$RUN/uac.out" 2>&1 </dev/null || true
  t1=$(cpu_us $PROXY_PIDS); w1=$(date +%s.%N)
  local rtpe_line=""
  [ -n "$RTPE_PID" ] && rtpe_line=$(rtpengine_line $(( $(cpu_us "$RTPE_PID") - rtpe_t0 )))
  stop_pid "$PROXY_PID"; PROXY_PID=""
  stop_pid "$RTPE_PID"; RTPE_PID=""
  stop_pid "$BACK_PID"; BACK_PID=""
  local ok failed retrans txn cpu_us us wall verdict
  ok=$(csv_field "$csv" "SuccessfulCall(C)"); failed=$(csv_field "$csv" "FailedCall(C)")
  retrans=$(csv_field "$csv" "Retransmissions(C)")
  if [ "$case" = call ]; then txn=$((ok * 2)); else txn=$ok; fi
  cpu_us=$((t1 - t0))
  us=$(awk -v c="$cpu_us" -v t="$txn" 'BEGIN{printf "%.1f", t ? c / t : 0}')
  wall=$(awk -v a="$w0" -v b="$w1" 'BEGIN{printf "%.2f", b - a}')
  RATE_ACHIEVED[$proxy.$case]=$(awk -v n="$ok" -v w="$wall" 'BEGIN{printf "%.0f", (w > 0) ? n / w : 0}')
  verdict=ok
  awk -v f="$failed" -v n="$m" 'BEGIN{exit !(f * 1000 >= n)}' && verdict=FAILED
  CPU_US[$proxy]=$(( ${CPU_US[$proxy]:-0} + cpu_us )); TXN[$proxy]=$(( ${TXN[$proxy]:-0} + txn ))
  [ "$case" = call ] && { CALL_US[$proxy]=$cpu_us; CALLS[$proxy]=$ok; }
  printf 'sip: %-8s %-8s offered %5d/s for %ds: %6d completed, %d failed, %d retransmissions, %s/s over %ss, proxy CPU %d ms, %s us/txn [%s]\n' \
    "$proxy" "$case" "$rate" "$DUR" "$ok" "$failed" "$retrans" "${RATE_ACHIEVED[$proxy.$case]}" "$wall" \
    $((cpu_us / 1000)) "$us" "$verdict"
  if [ -n "$rtpe_line" ]; then echo "$rtpe_line"; fi
}

mkdir -p "$RUN/state"
per_txn() { awk -v c="${CPU_US[$1]:-0}" -v t="${TXN[$1]:-0}" 'BEGIN{printf "%.1f", t ? c / t : 0}'; }
per_call() { awk -v c="${CALL_US[$1]:-0}" -v n="${CALLS[$1]:-0}" 'BEGIN{printf "%.1f", n ? c / n : 0}'; }
ratio() { quotient "$2" "$1" 0.00; }  # outpost's cost, the peer's: the peer's / outpost's
REPS=${REPS:-1}
case $REPS in '' | *[!0-9]* | 0) echo "sip: ERROR REPS must be a whole number >= 1 (got '$REPS')"; exit 1 ;; esac
ROUND_O=() ROUND_K=() ROUND_R=() ROUND_KR=()
for round in $(seq 1 "$REPS"); do
  CPU_US=() TXN=() CALL_US=() CALLS=()
  order=$PROXIES
  [ $((round % 2)) = 0 ] && order=$(printf '%s\n' $PROXIES | tac | tr '\n' ' ')
  for c in $CASES; do
    for p in $order; do
      [ "$p" = kamrtp ] && [ "$c" != call ] && continue  # media anchoring only matters for calls
      run_case "$p" "$c"
    done
  done
  O=$(per_txn outpost); K=$(per_txn kamailio)
  R=$(ratio "$O" "$K")
  ROUND_O+=("$O") ROUND_K+=("$K") ROUND_R+=("$R")
  if [ -n "${CALLS[kamrtp]:-}" ] && [ -n "${CALLS[outpost]:-}" ]; then
    OC=$(per_call outpost); KC=$(per_call kamrtp)
    RC=$(ratio "$OC" "$KC")
    ROUND_KR+=("$RC")
    echo "sip: call with media anchored: outpost $OC us/call, kamailio+rtpengine $KC us/call, ratio $RC"
  fi
  [ "$REPS" -gt 1 ] && echo "sip: round $round: outpost $O us/txn, kamailio $K us/txn, ratio $R"
done

LAST_ROUND=""
[ "$REPS" -gt 1 ] && LAST_ROUND=", last round"
case " $CASES " in *" call "*)
  echo "sip: outpost ${RATE_ACHIEVED[outpost.call]:-0} cps, kamailio ${RATE_ACHIEVED[kamailio.call]:-0} cps (offered $CALL_RATE$LAST_ROUND)" ;;
esac
if [ "$REPS" -gt 1 ]; then
  echo "sip: medians of $REPS rounds (the ratio below is the median round ratio, not the quotient of the two medians); round ratios ${ROUND_R[*]}${ROUND_KR:+; with media anchored ${ROUND_KR[*]}}"
  echo "sip: outpost $(median "${ROUND_O[@]}") us/txn, kamailio $(median "${ROUND_K[@]}") us/txn, ratio $(median "${ROUND_R[@]}")"
else
  echo "sip: outpost ${ROUND_O[0]} us/txn, kamailio ${ROUND_K[0]} us/txn, ratio ${ROUND_R[0]}"
fi
