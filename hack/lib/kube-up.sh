# shellcheck shell=bash
# One etcd member and a kube-apiserver over it, for the benchmark scripts
# that measure against a real kube-apiserver: source this file (bash, under
# `set -euo pipefail`), then call kube_up. It makes WORK (a temporary
# directory the caller may use too) and stops both servers and removes WORK
# when the script exits. Both binaries are built once per version and
# cached (hack/lib/etcd.sh, hack/lib/kube-apiserver.sh); afterwards the
# variables of those files are set (KUBE_APISERVER_URL, KUBE_KUBECONFIG, ...).
#
# kube_up is a child-starting function: call it directly, never inside
# $(...) or a pipeline.

# shellcheck source=hack/lib/etcd.sh
source "$(dirname "${BASH_SOURCE[0]}")/etcd.sh"
# shellcheck source=hack/lib/kube-apiserver.sh
source "$(dirname "${BASH_SOURCE[0]}")/kube-apiserver.sh"

_kube_up_cleanup() {
  kube_apiserver_stop || true
  etcd_cluster_stop || true
  rm -rf "${WORK:-}"
}

kube_up() {
  WORK=$(mktemp -d)
  trap _kube_up_cleanup EXIT
  # The libraries read these.
  ETCD_BIN=$(etcd_build)
  KUBE_APISERVER_BIN=$(kube_apiserver_build)
  export ETCD_BIN KUBE_APISERVER_BIN
  etcd_cluster_start 1 "$WORK/etcd"
  kube_apiserver_start "$WORK/kube" "$ETCD_ENDPOINTS"
}
