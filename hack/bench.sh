#!/usr/bin/env bash
# Side-by-side benchmarks: listwatch against k8s.io/client-go v0.37 in the same
# process run (hack/bench module), plus our own server benchmarks. Prints the
# raw lines and, for every listwatch/client-go pair, the ratio of ns/op
# (below 1 means listwatch is faster).
#
#   hack/bench.sh            # everything, about 5 minutes on 2 cores
#   hack/bench.sh Workqueue  # only benchmarks matching a pattern
#
# Benchmarks measure; they never assert. Compare ratios from one run: absolute
# figures move with the machine's load.
set -euo pipefail
cd "$(dirname "$0")/.."
pattern="${1:-.}"
out=$(mktemp)
trap 'rm -f "$out"' EXIT

echo "== side by side with client-go (hack/bench)"
(cd hack/bench && go test -run='^$' -bench="$pattern" -benchmem -count=1 .) | grep '^Benchmark' | tee "$out"

echo
echo "== ratios listwatch/client-go (ns/op)"
awk '
  /^Benchmark/ {
    name = $1; sub(/-[0-9]+$/, "", name)
    impl = ""
    if (name ~ /listwatch/) impl = "listwatch"; else if (name ~ /client-go/) impl = "client-go"; else next
    key = name; sub(/(impl=)?(listwatch|client-go)[^\/]*/, "", key)
    for (i = 2; i < NF; i++) if ($(i+1) == "ns/op") ns = $i
    if (impl == "listwatch" && !(key in lw)) { lw[key] = ns; order[++n] = key }
    if (impl == "client-go") cg[key] = ns
  }
  END {
    for (i = 1; i <= n; i++) { k = order[i]; if (k in cg && cg[k] > 0) printf "%-70s %8.2f\n", k, lw[k] / cg[k] }
  }' "$out"

if [ "$pattern" = "." ]; then
  echo
  echo "== store: writes with watchers, heap per object"
  go test -run='^$' -bench='Write|HeapPerObject' -benchmem ./apiserver-stub/storage/ | grep '^Benchmark'
  echo
  echo "== watch fan-out over loopback HTTP (writes/s, events/s, p50/p99 delivery), side by side:"
  echo "   memory store; etcd with 1 and 2 replicas (etcd-watches: watchers open in etcd);"
  echo "   an external server when LISTWATCH_FANOUT_URL is set (see test/e2e/fanout_targets_test.go)"
  go test -run='^$' -bench=WatchFanout -benchtime=3000x ./test/e2e | grep -E '^(Benchmark|--- |    fanout_)'
  echo
  echo "== informer: a slow handler under Coalesce vs Unbounded"
  go test -count=1 -run 'SlowHandler' -v ./informer | grep 'slow_test.go' || true
fi
