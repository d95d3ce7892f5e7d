#!/usr/bin/env bash
# Built-in kinds on a real kube-apiserver, client side: our informer over
# protobuf (the client's default for k8s.io/api kinds) and over JSON, beside
# client-go v0.37's shared informer over protobuf (its default for them) and
# JSON, each party in a process of its own (hack/bench/cmd/kubebench). It
# starts etcd and kube-apiserver (hack/lib, binaries cached by version),
# creates 2,000 ConfigMaps in a fresh namespace and measures, per party and
# round, the CPU of the watch-list sync and the CPU per 1,000 watch events,
# then prints benchtable's rows for them (anchor: client-go, protobuf).
#
#   hack/bench-kube.sh [ROUNDS]     # default 5 rounds; KUBEBENCH_FLAGS adds flags
#
# Benchmarks measure; they never assert. Compare rows of one run.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
source hack/lib/kube-up.sh
kube_up
echo "== kube-apiserver $(kube_apiserver_version) at $KUBE_APISERVER_URL over etcd $(etcd_version); $(go env GOVERSION), $(nproc) CPUs, $(date -u +%FT%TZ)"
(cd hack/bench && go build -o "$WORK/kubebench" ./cmd/kubebench)
# shellcheck disable=SC2086
"$WORK/kubebench" -rounds "$rounds" ${KUBEBENCH_FLAGS:-} | tee "$WORK/out"
echo
echo "== table: medians, ratio > 1 means listwatch is ahead"
(cd hack/bench && go run ./cmd/benchtable -not-measured=false) <"$WORK/out"
