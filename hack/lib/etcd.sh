# shellcheck shell=bash
# Real etcd clusters for the end-to-end scripts: source this file (bash),
# safe under `set -euo pipefail`. Every member is a separate process on
# 127.0.0.1, built from go.etcd.io/etcd/server/v3 at the version go.mod pins
# (hack/etcd), and every wait is bounded.
#
#   etcd_build                   build hack/etcd once per etcd version into the
#                                cache (outside the repo); print the binary's path
#   etcd_cluster_start N WORKDIR start N members, wait until all are healthy
#   etcd_leader                  print the index of the current leader (or fail)
#   etcd_wait_leader [SECONDS]   wait until a live member leads; print its index
#   etcd_kill_member I           kill -9 member I
#   etcd_restart_member I        restart member I on its data dir and ports
#   etcd_member_healthy I        member I answers /health with "true"
#   etcd_cluster_stop            stop every member (idempotent; fine in a trap)
#
# Member indices are 0-based, like the arrays. After etcd_cluster_start:
#   ETCD_ENDPOINTS    exported: the client URLs, comma-separated (all members,
#                     killed ones included: clients are expected to fail over)
#   ETCD_NAMES        member names (etcd-0 ...)
#   ETCD_CLIENT_URLS  client URLs (gRPC and the JSON gateway share the port)
#   ETCD_PEER_URLS    peer URLs
#   ETCD_PIDS         process ids; "" for a member that is not running
#   ETCD_WORKDIR      WORKDIR: member I keeps its data in WORKDIR/etcd-I and
#                     logs to WORKDIR/etcd-I.log
#   ETCD_BIN          the etcd binary (set it beforehand to skip etcd_build)
# Settings: LISTWATCH_CACHE (binary cache root), LISTWATCH_ETCD_PROGRESS_NOTIFY
# (--watch-progress-notify-interval, default 1s), LISTWATCH_ETCD_FLAGS (extra
# flags for every member, word-split), LISTWATCH_ETCD_TIMEOUT (seconds for each
# bounded wait, default 30).
#
# Processes are children of the shell that calls etcd_cluster_start: call it
# (and etcd_restart_member) directly, never inside $(...) or a pipeline.
# etcd reads ETCD_* environment variables as flags and exits when one
# conflicts with a command-line flag, so members start without any of them.

_ETCD_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ETCD_NAMES=()
ETCD_CLIENT_URLS=()
ETCD_PEER_URLS=()
ETCD_PIDS=()
ETCD_WORKDIR=""
_etcd_initial_cluster=""
_etcd_token=""
_etcd_ports=()

_etcd_log() { echo "etcd.sh: $*" >&2; }

# etcd_version: the version of go.etcd.io/etcd/server/v3 that go.mod selects
# (a replacement's version when it is replaced).
etcd_version() {
  local v
  v=$(cd "$_ETCD_ROOT" && go list -m -mod=readonly \
    -f '{{if .Replace}}{{.Replace.Version}}{{else}}{{.Version}}{{end}}' go.etcd.io/etcd/server/v3) || return 1
  if [ -z "$v" ]; then
    _etcd_log "go.etcd.io/etcd/server/v3 has no version in go.mod (replaced by a directory?)"
    return 1
  fi
  echo "$v"
}

# etcd_build: print the path of the etcd binary for the pinned version,
# building it first if the cache does not hold it. -mod=readonly: the build
# never rewrites go.mod or go.sum, whatever GOFLAGS says.
etcd_build() {
  local version dir bin tmp
  version=$(etcd_version) || return 1
  dir="${LISTWATCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/listwatch}/etcd-$version"
  bin="$dir/etcd"
  if [ ! -x "$bin" ]; then
    mkdir -p "$dir" || return 1
    tmp=$(mktemp "$dir/.etcd.XXXXXX") || return 1
    _etcd_log "building etcd $version into $dir"
    if ! (cd "$_ETCD_ROOT" && go build -mod=readonly -o "$tmp" ./hack/etcd) >&2; then
      rm -f "$tmp"
      _etcd_log "go build ./hack/etcd failed"
      return 1
    fi
    mv -f "$tmp" "$bin" || return 1 # atomic: a concurrent run sees all or nothing
  fi
  echo "$bin"
}

# _etcd_pick_port: a loopback port nothing listens on and this cluster has not
# taken, in _etcd_port (no subshell, so _etcd_ports remembers it). Below the
# kernel's ephemeral range, where outgoing connections take their ports.
_etcd_pick_port() {
  local p _
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 12000))
    case " ${_etcd_ports[*]:-} " in *" $p "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      _etcd_ports+=("$p")
      _etcd_port=$p
      return 0
    fi
  done
  _etcd_log "no free loopback port"
  return 1
}

# _etcd_start_member I STATE: start member I in the background (STATE: new or existing).
_etcd_start_member() {
  local i=$1 state=$2 v
  local -a unset_env=()
  for v in ${!ETCD_@}; do
    [ "$v" = ETCD_UNSUPPORTED_ARCH ] || unset_env+=(-u "$v")
  done
  local -a extra=()
  if [ -n "${LISTWATCH_ETCD_FLAGS:-}" ]; then
    read -r -a extra <<<"$LISTWATCH_ETCD_FLAGS"
  fi
  env "${unset_env[@]}" "$ETCD_BIN" \
    --name "${ETCD_NAMES[$i]}" \
    --data-dir "$ETCD_WORKDIR/etcd-$i" \
    --listen-client-urls "${ETCD_CLIENT_URLS[$i]}" \
    --advertise-client-urls "${ETCD_CLIENT_URLS[$i]}" \
    --listen-peer-urls "${ETCD_PEER_URLS[$i]}" \
    --initial-advertise-peer-urls "${ETCD_PEER_URLS[$i]}" \
    --initial-cluster "$_etcd_initial_cluster" \
    --initial-cluster-token "$_etcd_token" \
    --initial-cluster-state "$state" \
    --watch-progress-notify-interval "${LISTWATCH_ETCD_PROGRESS_NOTIFY:-1s}" \
    "${extra[@]}" \
    >>"$ETCD_WORKDIR/etcd-$i.log" 2>&1 &
  ETCD_PIDS[i]=$!
}

# _etcd_alive I: member I's process is running.
_etcd_alive() {
  [ -n "${ETCD_PIDS[$1]:-}" ] && kill -0 "${ETCD_PIDS[$1]}" 2>/dev/null
}

# etcd_member_healthy I: member I answers GET /health with "health":"true"
# (it has a leader, no alarm, and serves a linearizable read).
etcd_member_healthy() {
  _etcd_alive "$1" || return 1
  curl -s -m 3 "${ETCD_CLIENT_URLS[$1]}/health" 2>/dev/null | grep -q '"health": *"true"'
}

# _etcd_reap PID: kill -9 and reap PID without the shell's "Killed" report.
_etcd_reap() {
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

_etcd_tail_logs() {
  local i
  for i in "${!ETCD_NAMES[@]}"; do
    [ -f "$ETCD_WORKDIR/etcd-$i.log" ] || continue
    echo "--- $ETCD_WORKDIR/etcd-$i.log" >&2
    tail -n 15 "$ETCD_WORKDIR/etcd-$i.log" >&2
  done
}

# etcd_cluster_start N WORKDIR: start an N-member cluster, one process per
# member, on free loopback ports; return once every member is healthy. A port
# taken between the probe and etcd's bind is retried with new ports (3 tries).
etcd_cluster_start() {
  local n=${1:?etcd_cluster_start N WORKDIR} work=${2:?etcd_cluster_start N WORKDIR}
  local attempt i deadline timeout=${LISTWATCH_ETCD_TIMEOUT:-30} ok
  case "$n" in '' | *[!0-9]* | 0) _etcd_log "member count must be a positive integer: $n"; return 1 ;; esac
  if [ "${#ETCD_PIDS[@]}" -gt 0 ]; then
    _etcd_log "a cluster is already running here: etcd_cluster_stop first"
    return 1
  fi
  if [ -z "${ETCD_BIN:-}" ]; then
    ETCD_BIN=$(etcd_build) || return 1
  fi
  mkdir -p "$work" || return 1
  ETCD_WORKDIR=$(cd "$work" && pwd)
  for attempt in 1 2 3; do
    ETCD_NAMES=() ETCD_CLIENT_URLS=() ETCD_PEER_URLS=() ETCD_PIDS=() _etcd_ports=()
    _etcd_initial_cluster=""
    _etcd_token="listwatch-$$-$RANDOM$RANDOM"
    for ((i = 0; i < n; i++)); do
      rm -rf "$ETCD_WORKDIR/etcd-$i" "$ETCD_WORKDIR/etcd-$i.log"
      ETCD_NAMES[i]="etcd-$i"
      _etcd_pick_port || return 1
      ETCD_CLIENT_URLS[i]="http://127.0.0.1:$_etcd_port"
      _etcd_pick_port || return 1
      ETCD_PEER_URLS[i]="http://127.0.0.1:$_etcd_port"
      _etcd_initial_cluster+="${_etcd_initial_cluster:+,}${ETCD_NAMES[$i]}=${ETCD_PEER_URLS[$i]}"
    done
    ETCD_ENDPOINTS=$(
      IFS=,
      echo "${ETCD_CLIENT_URLS[*]}"
    )
    export ETCD_ENDPOINTS
    for ((i = 0; i < n; i++)); do
      _etcd_start_member "$i" new
    done
    deadline=$((SECONDS + timeout))
    while :; do
      ok=0
      for ((i = 0; i < n; i++)); do
        _etcd_alive "$i" || { ok=-1; break; }
        etcd_member_healthy "$i" && ok=$((ok + 1))
      done
      [ "$ok" -eq "$n" ] && return 0
      [ "$ok" -lt 0 ] && { _etcd_log "member etcd-$i exited during startup (attempt $attempt)"; break; }
      [ $SECONDS -ge $deadline ] && { _etcd_log "cluster not healthy after ${timeout}s (attempt $attempt)"; break; }
      sleep 0.2
    done
    _etcd_tail_logs
    etcd_cluster_stop
  done
  return 1
}

# _etcd_status I: "MEMBER_ID LEADER RAFT_TERM" from member I's
# /v3/maintenance/status (JSON gateway; 64-bit ids come as strings).
_etcd_status() {
  local out id leader term
  out=$(curl -s -m 2 -X POST "${ETCD_CLIENT_URLS[$1]}/v3/maintenance/status" -d '{}' 2>/dev/null) || return 1
  id=$(_etcd_json_uint member_id <<<"$out")
  leader=$(_etcd_json_uint leader <<<"$out")
  term=$(_etcd_json_uint raft_term <<<"$out")
  [ -n "$id" ] && [ -n "$leader" ] && [ -n "$term" ] || return 1
  echo "$id $leader $term"
}

# _etcd_json_uint KEY: the number in "KEY":"123" on stdin (one-line JSON).
_etcd_json_uint() { sed -n 's/.*"'"$1"'": *"\([0-9][0-9]*\)".*/\1/p' | head -n 1; }

# etcd_leader: print the index of the live member that reports itself as the
# leader (the highest raft term wins should two claim it); fail if none does.
etcd_leader() {
  local i st id leader term best=-1 best_term=-1
  for i in "${!ETCD_NAMES[@]}"; do
    _etcd_alive "$i" || continue
    st=$(_etcd_status "$i") || continue
    read -r id leader term <<<"$st"
    if [ "$leader" != 0 ] && [ "$id" = "$leader" ] && [ "$term" -gt "$best_term" ]; then
      best=$i best_term=$term
    fi
  done
  [ "$best" -ge 0 ] || return 1
  echo "$best"
}

# etcd_wait_leader [SECONDS]: wait (default LISTWATCH_ETCD_TIMEOUT, 30) until
# some live member reports a leader; print the leader's index.
etcd_wait_leader() {
  local deadline=$((SECONDS + ${1:-${LISTWATCH_ETCD_TIMEOUT:-30}}))
  until etcd_leader; do
    if [ $SECONDS -ge $deadline ]; then
      _etcd_log "no leader after ${1:-${LISTWATCH_ETCD_TIMEOUT:-30}}s"
      return 1
    fi
    sleep 0.2
  done
}

# etcd_kill_member I: kill -9 member I (its data dir stays for a restart).
etcd_kill_member() {
  local i=${1:?etcd_kill_member I}
  if ! _etcd_alive "$i"; then
    _etcd_log "member $i is not running"
    return 1
  fi
  _etcd_reap "${ETCD_PIDS[$i]}"
  ETCD_PIDS[i]=""
}

# etcd_restart_member I: start member I again on the same data dir and ports
# (--initial-cluster-state existing); return once it is healthy, i.e. has
# rejoined, sees a leader and serves a linearizable read.
etcd_restart_member() {
  local i=${1:?etcd_restart_member I} timeout=${LISTWATCH_ETCD_TIMEOUT:-30} deadline
  if [ -z "${ETCD_NAMES[$i]:-}" ]; then
    _etcd_log "no member $i"
    return 1
  fi
  if _etcd_alive "$i"; then
    _etcd_log "member $i is still running"
    return 1
  fi
  _etcd_start_member "$i" existing
  deadline=$((SECONDS + timeout))
  until etcd_member_healthy "$i"; do
    if ! _etcd_alive "$i"; then
      _etcd_log "member $i exited after its restart"
      tail -n 15 "$ETCD_WORKDIR/etcd-$i.log" >&2
      ETCD_PIDS[i]=""
      return 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      _etcd_log "member $i not healthy ${timeout}s after its restart"
      tail -n 15 "$ETCD_WORKDIR/etcd-$i.log" >&2
      return 1
    fi
    sleep 0.2
  done
}

# etcd_cluster_stop: SIGTERM every member, SIGKILL what is left after 2s,
# reap them all. Keeps WORKDIR (the caller owns it). Safe to call twice.
# (A leader stopped together with its followers spends ~6s trying to hand
# over its leadership; nothing is lost by not waiting for that.)
etcd_cluster_stop() {
  local p deadline alive
  for p in "${ETCD_PIDS[@]}"; do
    if [ -n "$p" ]; then kill "$p" 2>/dev/null || true; fi
  done
  deadline=$((SECONDS + 2))
  while [ $SECONDS -lt $deadline ]; do
    alive=0
    for p in "${ETCD_PIDS[@]}"; do
      if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then alive=1; fi
    done
    if [ $alive -eq 0 ]; then break; fi
    sleep 0.1
  done
  for p in "${ETCD_PIDS[@]}"; do
    if [ -n "$p" ]; then _etcd_reap "$p"; fi
  done
  ETCD_PIDS=()
}
