# Shared by the bench/*.sh scripts (sourced): stopping what a benchmark started, and the CPU
# time a process used, which is the figure the benchmarks compare (wall-clock rates on a
# shared 2-core machine say more about the neighbours than about the program).

# stop_pid PID: TERM, up to 5 s for it to go, then KILL; reaps it if it is our child.
stop_pid() {
  local p=$1
  [ -n "$p" ] || return 0
  kill "$p" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}

# cpu_ticks PID...: utime+stime of the processes, in clock ticks (getconf CLK_TCK a second).
# Fields are counted after the ")" that ends the command name, which may hold spaces.
cpu_ticks() {
  local t=0 p v
  for p in "$@"; do
    v=$({ sed 's/.*) //' "/proc/$p/stat" 2>/dev/null || echo "x 0 0 0 0 0 0 0 0 0 0 0 0"; } | awk '{print $12+$13}')
    t=$((t + v))
  done
  echo "$t"
}

# rtpengine_conf FILE SECTION INTERFACE NG_LISTEN PORT_MIN PORT_MAX [HTTP_LISTEN]: the config of
# the userspace rtpengine the benches compare with (table -1: no kernel forwarding, which needs
# a module this machine cannot load), in the foreground, logging to stderr.
rtpengine_conf() {
  {
    printf '[%s]\ntable = -1\ninterface = %s\nlisten-ng = %s\n' "$2" "$3" "$4"
    [ -z "${7:-}" ] || printf 'listen-http = %s\n' "$7"
    printf 'port-min = %s\nport-max = %s\ntimeout = 600\nsilent-timeout = 3600\ndelete-delay = 0\n' "$5" "$6"
    printf 'foreground = true\nlog-stderr = true\nlog-level = 4\n'
  } >"$1"
}
