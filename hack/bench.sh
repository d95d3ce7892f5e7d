#!/usr/bin/env bash
# Side-by-side benchmarks: listwatch against k8s.io/client-go v0.37 in the same
# process run (hack/bench module), as one table of medians and ratios, plus
# our own server benchmarks.
#
#   hack/bench.sh                     # everything: -count 5, ~15 minutes on 2 cores
#   hack/bench.sh --quick             # the rows with goals, -count 3, about 2 minutes
#   hack/bench.sh --json FILE         # also write the rows as JSON to FILE
#   hack/bench.sh Workqueue           # only hack/bench benchmarks matching a pattern
#   COUNT=10 BENCHTIME=2s hack/bench.sh
#
# A row is {workload, unit, listwatch, anchor, anchor_name, ratio, goal}: the
# median of each side's runs, and their ratio oriented so that above 1 means
# listwatch is ahead (anchor/listwatch for ns/op and B/object,
# listwatch/anchor for writes/s); hack/bench/cmd/benchtable builds it. The
# informer rows pair lossless with lossless (listwatch-Unbounded with
# client-go); the coalescing delivery has a row of its own.
#
# Benchmarks measure; they never assert, and this script does not fail on a
# ratio. Compare ratios from one run: absolute figures move with the load.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0 json="" pattern=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --json) json="$2"; shift ;;
    --json=*) json="${1#--json=}" ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) pattern="$1" ;;
  esac
  shift
done
[ -n "$json" ] && case "$json" in /*) ;; *) json="$PWD/$json" ;; esac
out=$(mktemp) bin=$(mktemp -d)
trap 'rm -rf "$out" "$bin"' EXIT

echo "== side by side with client-go (hack/bench), $(go env GOVERSION), $(nproc) CPUs, $(date -u +%FT%TZ)"
(cd hack/bench && go test -c -o "$bin/bench.test" .)
run() { (cd hack/bench && "$bin/bench.test" -test.run='^$' -test.benchmem "$@") | grep -E '^(Benchmark|cpu:)' | tee -a "$out"; }
if [ $quick -eq 1 ]; then
  # The rows with goals only; each pattern on its own so that sub-benchmark
  # levels do not filter one another.
  q=(-test.count="${COUNT:-3}" -test.benchtime="${BENCHTIME:-500ms}")
  run "${q[@]}" -test.bench='^BenchmarkCache(Indexer|Retained)$'
  run "${q[@]}" -test.bench='^BenchmarkCacheThroughput$/^read=List$/^readers=10$'
  run "${q[@]}" -test.bench='^BenchmarkInformerEvents$/^handlers=1$'
  run "${q[@]}" -test.bench='^BenchmarkWorkqueue$/^Contended$'
else
  run -test.count="${COUNT:-5}" -test.benchtime="${BENCHTIME:-1s}" -test.bench="${pattern:-.}"
fi
if [ -z "$pattern" ]; then
  # Server fan-out against etcd: each party's server, its 1000 watchers
  # and the writers in processes of their own (hack/bench/cmd/fanout).
  if [ $quick -eq 1 ]; then f=(-rounds 1 -writes 1000); else f=(-rounds "${FANOUT_ROUNDS:-3}" -writes 3000 -impl listwatch,etcd,listwatch-etcd); fi
  echo "== server fan-out, 1000 watchers: listwatch vs etcd (${f[*]})"
  (cd hack/bench && go build -o "$bin/fanout" ./cmd/fanout)
  "$bin/fanout" "${f[@]}" | tee -a "$out"
  # End to end: each party (our informer, client-go's, a bare
  # encoding/json reader) drains the same backlog of watch events in a
  # process of its own (hack/bench/cmd/drainbench).
  if [ $quick -eq 1 ]; then d=(-rounds 1 -objects 1000 -events 10000); else d=(-rounds "${DRAIN_ROUNDS:-3}" -objects 2000 -events 50000); fi
  echo "== end to end drain of a watch backlog: listwatch vs client-go vs encoding/json (${d[*]})"
  (cd hack/bench && go build -o "$bin/drainbench" ./cmd/drainbench)
  "$bin/drainbench" "${d[@]}" | tee -a "$out"
  if [ $quick -eq 0 ]; then
    # The initial sync of 100k Tasks by each informer, in a process of its
    # own: time, CPU, peak heap, heap retained per object.
    echo "== initial sync of 100k Tasks: listwatch vs client-go"
    "$bin/drainbench" -rounds "${DRAIN_ROUNDS:-3}" -objects 100000 -events 100000 -impl listwatch,client-go | grep '^BenchmarkInitialSync' | tee -a "$out"
  fi
fi
if [ $quick -eq 0 ] && [ -z "$pattern" ]; then
  echo "== store: live heap per object, the memory store and etcd (the same Tasks)"
  go test -run='^$' -bench='HeapPerObject' -benchtime=1x ./apiserver-stub/storage/ | grep '^Benchmark' | tee -a "$out"
fi

echo
echo "== table: medians, ratio > 1 means listwatch is ahead"
(cd hack/bench && go run ./cmd/benchtable ${json:+-json "$json"}) < "$out"
[ -n "$json" ] && echo "rows written to $json"

if [ $quick -eq 0 ] && [ -z "$pattern" ]; then
  echo
  echo "== store: writes with watchers"
  go test -run='^$' -bench='Write' -benchmem ./apiserver-stub/storage/ | grep '^Benchmark'
  echo
  echo "== watch fan-out over loopback HTTP (writes/s, events/s, p50/p99 delivery), side by side:"
  echo "   memory store; etcd with 1 and 2 replicas (etcd-watches: watchers open in etcd);"
  echo "   an external server when LISTWATCH_FANOUT_URL is set (see test/e2e/fanout_targets_test.go)"
  go test -run='^$' -bench=WatchFanout -benchtime=3000x ./test/e2e | grep -E '^(Benchmark|--- |    fanout_)'
  echo
  echo "== informer: a slow handler under Coalesce vs Unbounded"
  go test -count=1 -run 'SlowHandler' -v ./informer | grep 'slow_test.go' || true
fi
