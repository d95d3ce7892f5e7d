#!/usr/bin/env bash
# Server fan-out side by side, in one run: writes/s and delivery to 100 and
# 1000 watchers on the memory backend, the etcd backend with one and with
# two replicas (and the etcd watches they open), and the anchor, a real
# kube-apiserver v1.37 serving kunos.io as CRDs over an etcd of the same
# version as ours (both built from the module proxy and cached by version).
#
#   hack/bench-fanout.sh [BENCHTIME]     # default 3000x events per case
#
# Benchmarks measure; they never assert. Compare rows of one run.
set -euo pipefail
cd "$(dirname "$0")/.."
benchtime=${1:-3000x}
source hack/lib/kube-up.sh
kube_up
kube_apiserver_install_crds
echo "anchor: kube-apiserver $(kube_apiserver_version) at $KUBE_APISERVER_URL over etcd $(etcd_version)"
LISTWATCH_FANOUT_URL=$KUBE_APISERVER_URL LISTWATCH_FANOUT_TOKEN=$KUBE_APISERVER_TOKEN LISTWATCH_FANOUT_CA=$KUBE_APISERVER_CA \
  go test -run='^$' -bench=WatchFanout -benchtime="$benchtime" -timeout 60m ./test/e2e | grep -E '^(Benchmark|---|\s+fanout|ok|FAIL)'
