#!/usr/bin/env bash
# Self-test of hack/lib/etcd.sh against real etcd processes: a 3-member
# cluster on 127.0.0.1, watch progress notifications every second, a write
# and linearizable reads through etcd's JSON gateway, the leader killed with
# SIGKILL, a new leader elected, writes still accepted and the old value still
# readable, the killed member restarted on its data dir and caught up, then
# everything stopped. One line per step; every wait is bounded; the processes
# and the work dir go away on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=hack/lib/etcd.sh
source hack/lib/etcd.sh

WORK=$(mktemp -d)
cleanup() {
  etcd_cluster_stop
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

START=$EPOCHREALTIME
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1fs", b - a }'; }
step() { echo "etcd-selftest: $*"; }
fail() {
  echo "etcd-selftest: FAIL: $*" >&2
  local f
  for f in "$WORK"/etcd-*.log; do
    [ -f "$f" ] || continue
    echo "--- $f" >&2
    tail -n 20 "$f" >&2
  done
  exit 1
}

b64() { printf '%s' "$1" | base64 | tr -d '\n'; }
# put I KEY VALUE: write through member I's gateway.
put() {
  curl -sf -m 5 -X POST "${ETCD_CLIENT_URLS[$1]}/v3/kv/put" \
    -d "{\"key\":\"$(b64 "$2")\",\"value\":\"$(b64 "$3")\"}" | grep -q '"revision"'
}
# get I KEY [serializable]: print KEY's value read through member I's gateway
# (linearizable unless a third argument asks for a local, serializable read).
get() {
  local ser=false out v
  [ -n "${3:-}" ] && ser=true
  out=$(curl -sf -m 5 -X POST "${ETCD_CLIENT_URLS[$1]}/v3/kv/range" \
    -d "{\"key\":\"$(b64 "$2")\",\"serializable\":$ser}") || return 1
  v=$(sed -n 's/.*"value": *"\([^"]*\)".*/\1/p' <<<"$out")
  [ -n "$v" ] || return 1
  base64 -d <<<"$v"
}
# expect I KEY VALUE [serializable]
expect() {
  local got
  got=$(get "$1" "$2" "${4:-}") || fail "read $2 through ${ETCD_NAMES[$1]}: no value"
  [ "$got" = "$3" ] || fail "read $2 through ${ETCD_NAMES[$1]}: got '$got', want '$3'"
}
# wait_for SECONDS CMD...: retry CMD until it succeeds or SECONDS pass.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}

t=$EPOCHREALTIME
ETCD_BIN=$(etcd_build) || fail "etcd_build"
step "1. etcd_build: $ETCD_BIN ($("$ETCD_BIN" --version | head -n 1)) in $(since "$t")"

t=$EPOCHREALTIME
etcd_cluster_start 3 "$WORK" || fail "etcd_cluster_start 3"
step "2. 3 members healthy in $(since "$t"): ETCD_ENDPOINTS=$ETCD_ENDPOINTS, pids ${ETCD_PIDS[*]}"

# A watch asking for progress notifications gets one every interval (1s, not
# etcd's default 10m): responses with a header and no events, created aside.
(curl -sN -m 3.5 -X POST "${ETCD_CLIENT_URLS[0]}/v3/watch" \
  -d "{\"create_request\":{\"key\":\"$(b64 selftest/w)\",\"progress_notify\":true}}" || true) >"$WORK/watch.out"
progress=$(grep -v '"created"' "$WORK/watch.out" | grep -v '"events"' | grep -c '"header"' || true)
[ "$progress" -ge 2 ] || fail "$progress progress notifications in 3.5s, want >= 2 (--watch-progress-notify-interval 1s)"
step "3. a watch with progress_notify got $progress progress notifications in 3.5s"

leader=$(etcd_wait_leader 10) || fail "no leader"
follower=$(((leader + 1) % 3))
put "$follower" selftest/a one || fail "put through follower ${ETCD_NAMES[$follower]}"
for i in 0 1 2; do expect "$i" selftest/a one; done
step "4. leader ${ETCD_NAMES[$leader]}; put selftest/a=one through follower ${ETCD_NAMES[$follower]}, read back from all 3"

t=$EPOCHREALTIME
old=$leader
oldpid=${ETCD_PIDS[$old]}
etcd_kill_member "$old" || fail "kill ${ETCD_NAMES[$old]}"
if kill -0 "$oldpid" 2>/dev/null; then fail "pid $oldpid survived etcd_kill_member"; fi
[ -z "${ETCD_PIDS[$old]}" ] || fail "ETCD_PIDS[$old] not cleared by etcd_kill_member"
leader=$(etcd_wait_leader 20) || fail "no new leader after killing ${ETCD_NAMES[$old]}"
[ "$leader" != "$old" ] || fail "leader is still the killed member"
step "5. killed leader ${ETCD_NAMES[$old]} (kill -9); new leader ${ETCD_NAMES[$leader]} in $(since "$t")"

live=()
for i in 0 1 2; do [ "$i" = "$old" ] || live+=("$i"); done
wait_for 10 put "${live[0]}" selftest/b two || fail "put with one member down"
for i in "${live[@]}"; do
  expect "$i" selftest/a one
  expect "$i" selftest/b two
done
if get "$old" selftest/a >/dev/null 2>&1; then fail "the killed member still answers"; fi
step "6. with ${ETCD_NAMES[$old]} down: put selftest/b=two ok; selftest/a=one still read from ${ETCD_NAMES[${live[0]}]} and ${ETCD_NAMES[${live[1]}]}"

t=$EPOCHREALTIME
etcd_restart_member "$old" || fail "restart ${ETCD_NAMES[$old]}"
expect "$old" selftest/a one serializable
expect "$old" selftest/b two serializable
expect "$old" selftest/a one
members=$(curl -sf -m 5 -X POST "${ETCD_CLIENT_URLS[$old]}/v3/cluster/member/list" -d '{}' | grep -o '"name": *"etcd-[0-9]*"' | sort -u | wc -l)
[ "$members" -eq 3 ] || fail "member list from the restarted member has $members named members, want 3"
now=$(etcd_wait_leader 10) || fail "no leader after the restart"
put "$old" selftest/c three || fail "put through the restarted member"
for i in 0 1 2; do expect "$i" selftest/c three; done
step "7. restarted ${ETCD_NAMES[$old]} on its data dir and ports in $(since "$t"): healthy, has a and b locally (serializable), 3 members, leader ${ETCD_NAMES[$now]}, put selftest/c=three through it"

pids=("${ETCD_PIDS[@]}")
etcd_cluster_stop
for p in "${pids[@]}"; do
  if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then fail "etcd pid $p still running after etcd_cluster_stop"; fi
done
etcd_cluster_stop # idempotent
step "8. etcd_cluster_stop: all 3 processes gone"
step "ok in $(since "$START")"
