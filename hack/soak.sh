#!/usr/bin/env bash
# Soak: the chaos test (test/e2e TestChaos) in its long mode, for a long
# time per backend, at LISTWATCH_CHAOS_RATE writes/s (default 1200) under
# random faults (connection cuts, resets, half-closes and stalls, proxy
# stalls, delays and refusals, watches dropped and stalled, compactions,
# server restarts with and without the store; on etcd, leader and replica
# kills), with every invariant of the short mode checked continuously and
# at quiescence.
#
#   hack/soak.sh                 # 10 minutes per backend, memory then etcd
#   hack/soak.sh 30m             # 30 minutes per backend
#   hack/soak.sh 10m memory      # one backend (memory or etcd)
#   SOAK_RACE=1 hack/soak.sh 5m  # with the race detector (slower, fewer writes)
#
# It reports, per backend, the writes and writes/s (overall, and while the
# writers were not paused around restarts that lose the store), the faults,
# handler events, relists and divergences, the peak Go heap, and for the
# whole run the goroutines before and after, the peak RSS of the test
# process and the summary line
#
#   faults=N events=N relists=N divergences=N
#
# The full log is kept (its path is printed). The exit status is the
# test's: non-zero on any divergence or leak.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-10m}"
backends="${2:-memory,etcd}"
# Seconds in a Go duration made of integers: 10m, 1h30m, 90s.
secs=0
rest="$duration"
while [[ $rest =~ ^([0-9]+)([hms])(.*)$ ]]; do
  case "${BASH_REMATCH[2]}" in
    h) secs=$((secs + BASH_REMATCH[1] * 3600)) ;;
    m) secs=$((secs + BASH_REMATCH[1] * 60)) ;;
    s) secs=$((secs + BASH_REMATCH[1])) ;;
  esac
  rest="${BASH_REMATCH[3]}"
done
if [ -n "$rest" ] || [ "$secs" -le 0 ]; then
  echo "soak: duration $duration: want e.g. 10m or 1h30m" >&2
  exit 2
fi

work=$(mktemp -d)
log="$work/soak.log"
bin="$work/e2e.test"
race=()
[ "${SOAK_RACE:-}" = 1 ] && race=(-race)

echo "soak: building the e2e test binary ${race[*]:-}"
go test "${race[@]}" -c -o "$bin" ./test/e2e

# Each backend runs for the duration, then quiesces (bounded): allow for
# both, startup and checks.
n=$(echo "$backends" | tr ',' '\n' | grep -c .)
timeout=$(( (secs + 300) * n + 300 ))s

echo "soak: $duration per backend ($backends), timeout $timeout, log $log"
start=$(date +%s)
status=0
(
  cd test/e2e
  LISTWATCH_CHAOS_DURATION="$duration" LISTWATCH_CHAOS_BACKENDS="$backends" \
    /usr/bin/env time -f 'soak: peak_rss_kb=%M' "$bin" -test.run '^TestChaos$' -test.v -test.count=1 -test.timeout "$timeout"
) > "$log" 2>&1 || status=$?
elapsed=$(( $(date +%s) - start ))

echo
echo "== figures (${elapsed}s in all)"
grep -E 'chaos (memory|etcd): ' "$log" | sed -E 's/^ *chaos_[a-z_]*test\.go:[0-9]+: /  /' |
  grep -E 'faults in|faults=|events=|converged after each|divergences=' || true
grep -E '^soak ' "$log" | sed 's/^/  /' || true
grep -E '^soak: goroutines' "$log" | sed 's/^/  /' || true
awk -F= '/^soak: peak_rss_kb=/ { printf "  soak: peak_rss_mb=%.0f (the whole test process)\n", $2 / 1024 }' "$log"
if grep -q DIVERGENCE "$log"; then
  echo
  echo "== divergences (first ones)"
  grep DIVERGENCE "$log" | head -n 20
fi
echo
echo "== summary"
grep -E '^faults=[0-9]+ events=[0-9]+ relists=[0-9]+ divergences=[0-9]+$' "$log" || {
  echo "soak: no summary line; the end of the log:"
  tail -n 40 "$log"
}
if [ "$status" -ne 0 ]; then
  echo "soak: FAIL (exit $status); log: $log"
else
  echo "soak: PASS; log: $log"
fi
exit "$status"
