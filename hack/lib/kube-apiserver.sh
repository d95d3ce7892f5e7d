# shellcheck shell=bash
# A real kube-apiserver for the end-to-end scripts and benchmarks: source this
# file (bash), safe under `set -euo pipefail`. The binary is built from the Go
# module proxy (k8s.io/kubernetes at the version hack/kube-apiserver/go.mod
# pins, its staging modules replaced by their published twins), once per
# version, into a cache outside the repo. It serves HTTPS on 127.0.0.1 over an
# etcd the caller provides (hack/lib/etcd.sh), and every wait is bounded.
#
#   kube_apiserver_version          print the pinned k8s.io/kubernetes version (v1.37.2)
#   kube_apiserver_build            build once per version into the cache; print the binary's path
#   kube_apiserver_start WORKDIR ETCD_URLS
#                                   start one kube-apiserver on a free loopback port over
#                                   ETCD_URLS (comma-separated), wait until /readyz is ok
#   kube_apiserver_install_crds [FILE]
#                                   apply the kunos.io/v1 CRDs (default
#                                   hack/kube-apiserver/crds.yaml), wait until they are
#                                   Established and their resources are served
#   kube_apiserver_stop             stop it (idempotent; fine in a trap)
#
# After kube_apiserver_start (all exported):
#   KUBE_APISERVER_URL      https://127.0.0.1:PORT
#   KUBE_KUBECONFIG         WORKDIR/kubeconfig: the admin token (group system:masters)
#                           and the server's self-signed CA
#   KUBE_APISERVER_TOKEN    the admin bearer token
#   KUBE_APISERVER_CA       the CA file that verifies the serving certificate
#   KUBE_APISERVER_PID      the process id
#   KUBE_APISERVER_LOG      WORKDIR/kube-apiserver.log
#   KUBE_APISERVER_WORKDIR  WORKDIR (keys, token file, certs, kubeconfig, log)
#   KUBE_APISERVER_BIN      the binary (set it beforehand to skip kube_apiserver_build)
# Settings: LISTWATCH_CACHE (binary cache root, default
# ${XDG_CACHE_HOME:-$HOME/.cache}/listwatch), LISTWATCH_KUBE_APISERVER_TIMEOUT
# (seconds for each bounded wait, default 60), LISTWATCH_KUBE_APISERVER_AUTHZ
# (--authorization-mode, default RBAC: the admin token is in system:masters),
# LISTWATCH_KUBE_APISERVER_ETCD_PREFIX (--etcd-prefix, default /registry),
# LISTWATCH_KUBE_APISERVER_FLAGS (extra flags, word-split; later flags win),
# KUBECTL (the kubectl to run, default kubectl).
#
# The process is a child of the shell that calls kube_apiserver_start: call it
# directly, never inside $(...) or a pipeline.

_KAS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
_KAS_MODDIR="$_KAS_ROOT/hack/kube-apiserver"
KUBE_APISERVER_PID=""

_kas_log() { echo "kube-apiserver.sh: $*" >&2; }

# kube_apiserver_version: the k8s.io/kubernetes version hack/kube-apiserver/go.mod requires.
kube_apiserver_version() {
  local v
  v=$(cd "$_KAS_MODDIR" && go list -m -mod=readonly -f '{{.Version}}' k8s.io/kubernetes) || return 1
  if [ -z "$v" ]; then
    _kas_log "k8s.io/kubernetes has no version in hack/kube-apiserver/go.mod"
    return 1
  fi
  echo "$v"
}

# kube_apiserver_build: print the path of the kube-apiserver binary for the
# pinned version, building it first if the cache does not hold it (a cold
# build is ~9 CPU-minutes).
kube_apiserver_build() { _kas_build kube-apiserver; }

# _kas_build CMD: print the path of k8s.io/kubernetes/cmd/CMD for the pinned
# version, building it into the cache first if it is not there
# (hack/lib/kube-controller-manager.sh builds its binary with this too). The
# version is stamped into /version the way the Kubernetes release build does
# it; -mod=readonly never rewrites go.mod/go.sum.
_kas_build() {
  local cmd=${1:?_kas_build CMD} version dir bin tmp major minor ldflags p
  version=$(kube_apiserver_version) || return 1
  dir="${LISTWATCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/listwatch}/$cmd-$version"
  bin="$dir/$cmd"
  if [ ! -x "$bin" ]; then
    mkdir -p "$dir" || return 1
    tmp=$(mktemp "$dir/.$cmd.XXXXXX") || return 1
    major=${version#v}
    minor=${major#*.}
    minor=${minor%%.*}
    major=${major%%.*}
    ldflags="-s -w"
    for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ldflags+=" -X $p.gitVersion=$version -X $p.gitMajor=$major -X $p.gitMinor=$minor"
      ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    done
    _kas_log "building $cmd $version into $dir (a cold build takes minutes)"
    if ! (cd "$_KAS_MODDIR" && go build -mod=readonly -trimpath -ldflags "$ldflags" \
      -o "$tmp" "k8s.io/kubernetes/cmd/$cmd") >&2; then
      rm -f "$tmp"
      _kas_log "go build k8s.io/kubernetes/cmd/$cmd failed"
      return 1
    fi
    mv -f "$tmp" "$bin" || return 1 # atomic: a concurrent run sees all or nothing
  fi
  echo "$bin"
}

# _kas_pick_port: a loopback port nothing listens on, in _kas_port. Below the
# kernel's ephemeral range, where outgoing connections take their ports.
_kas_pick_port() {
  local p _
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      _kas_port=$p
      return 0
    fi
  done
  _kas_log "no free loopback port"
  return 1
}

_kas_alive() { [ -n "${KUBE_APISERVER_PID:-}" ] && kill -0 "$KUBE_APISERVER_PID" 2>/dev/null; }

# _kas_reap: kill -9 and reap the process without the shell's "Killed" report.
_kas_reap() {
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# _kas_creds WORKDIR: the service-account key pair, the admin token and its
# token file (created once per WORKDIR; a restart on the same WORKDIR keeps them).
_kas_creds() {
  local w=$1
  if [ ! -s "$w/sa.key" ] || [ ! -s "$w/sa.pub" ]; then
    if ! openssl genrsa -out "$w/sa.key" 2048 2>/dev/null ||
      ! openssl rsa -in "$w/sa.key" -pubout -out "$w/sa.pub" 2>/dev/null; then
      _kas_log "openssl could not generate the service-account key pair"
      return 1
    fi
  fi
  if [ ! -s "$w/token" ]; then
    od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$w/token" || return 1
  fi
  KUBE_APISERVER_TOKEN=$(cat "$w/token")
  printf '%s,admin,admin-uid,"system:masters"\n' "$KUBE_APISERVER_TOKEN" >"$w/tokens.csv"
  chmod 600 "$w/sa.key" "$w/token" "$w/tokens.csv"
}

# _kas_readyz: the server answers GET /readyz with "ok".
_kas_readyz() {
  [ "$(curl -s -m 3 --cacert "$KUBE_APISERVER_CA" -H "Authorization: Bearer $KUBE_APISERVER_TOKEN" \
    "$KUBE_APISERVER_URL/readyz" 2>/dev/null)" = ok ]
}

_kas_write_kubeconfig() {
  cat >"$KUBE_KUBECONFIG" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kube-apiserver
  cluster:
    server: $KUBE_APISERVER_URL
    certificate-authority: $KUBE_APISERVER_CA
users:
- name: admin
  user:
    token: $KUBE_APISERVER_TOKEN
contexts:
- name: admin@kube-apiserver
  context:
    cluster: kube-apiserver
    user: admin
    namespace: default
current-context: admin@kube-apiserver
EOF
  chmod 600 "$KUBE_KUBECONFIG"
}

# kube_apiserver_start WORKDIR ETCD_URLS: start kube-apiserver on a free
# loopback port over ETCD_URLS and return once /readyz says ok (every
# post-start hook done, the RBAC bootstrap roles and the system namespaces
# included). A port taken between the probe and the bind is retried with a
# new port (3 tries).
kube_apiserver_start() {
  local work=${1:?kube_apiserver_start WORKDIR ETCD_URLS} etcd=${2:?kube_apiserver_start WORKDIR ETCD_URLS}
  local timeout=${LISTWATCH_KUBE_APISERVER_TIMEOUT:-60} attempt deadline
  local -a extra=()
  if _kas_alive; then
    _kas_log "a kube-apiserver is already running here (pid $KUBE_APISERVER_PID): kube_apiserver_stop first"
    return 1
  fi
  if [ -z "${KUBE_APISERVER_BIN:-}" ]; then
    KUBE_APISERVER_BIN=$(kube_apiserver_build) || return 1
  fi
  export KUBE_APISERVER_BIN
  mkdir -p "$work/certs" || return 1
  KUBE_APISERVER_WORKDIR=$(cd "$work" && pwd)
  KUBE_APISERVER_LOG="$KUBE_APISERVER_WORKDIR/kube-apiserver.log"
  KUBE_APISERVER_CA="$KUBE_APISERVER_WORKDIR/certs/apiserver.crt"
  KUBE_KUBECONFIG="$KUBE_APISERVER_WORKDIR/kubeconfig"
  _kas_creds "$KUBE_APISERVER_WORKDIR" || return 1
  export KUBE_APISERVER_WORKDIR KUBE_APISERVER_LOG KUBE_APISERVER_CA KUBE_KUBECONFIG KUBE_APISERVER_TOKEN
  if [ -n "${LISTWATCH_KUBE_APISERVER_FLAGS:-}" ]; then
    read -r -a extra <<<"$LISTWATCH_KUBE_APISERVER_FLAGS"
  fi
  for attempt in 1 2 3; do
    _kas_pick_port || return 1
    KUBE_APISERVER_URL="https://127.0.0.1:$_kas_port"
    export KUBE_APISERVER_URL
    # The serving certificate is generated for the bind address and port:
    # a new port means a new one.
    rm -f "$KUBE_APISERVER_WORKDIR"/certs/apiserver.*
    echo "=== $(date -u +%FT%TZ) start on $KUBE_APISERVER_URL (attempt $attempt)" >>"$KUBE_APISERVER_LOG"
    "$KUBE_APISERVER_BIN" \
      --bind-address=127.0.0.1 \
      --advertise-address=127.0.0.1 \
      --secure-port="$_kas_port" \
      --cert-dir="$KUBE_APISERVER_WORKDIR/certs" \
      --etcd-servers="$etcd" \
      --etcd-prefix="${LISTWATCH_KUBE_APISERVER_ETCD_PREFIX:-/registry}" \
      --service-account-issuer=https://kubernetes.default.svc \
      --service-account-key-file="$KUBE_APISERVER_WORKDIR/sa.pub" \
      --service-account-signing-key-file="$KUBE_APISERVER_WORKDIR/sa.key" \
      --service-cluster-ip-range=10.0.0.0/24 \
      --token-auth-file="$KUBE_APISERVER_WORKDIR/tokens.csv" \
      --anonymous-auth=false \
      --authorization-mode="${LISTWATCH_KUBE_APISERVER_AUTHZ:-RBAC}" \
      --endpoint-reconciler-type=none \
      "${extra[@]}" \
      >>"$KUBE_APISERVER_LOG" 2>&1 &
    KUBE_APISERVER_PID=$!
    export KUBE_APISERVER_PID
    deadline=$((SECONDS + timeout))
    while :; do
      if ! _kas_alive; then
        wait "$KUBE_APISERVER_PID" 2>/dev/null || true
        KUBE_APISERVER_PID=""
        if tail -n 30 "$KUBE_APISERVER_LOG" | grep -q 'address already in use'; then
          _kas_log "port $_kas_port taken (attempt $attempt); trying another"
          continue 2
        fi
        _kas_log "kube-apiserver exited during startup; last lines of $KUBE_APISERVER_LOG:"
        tail -n 30 "$KUBE_APISERVER_LOG" >&2
        return 1
      fi
      if [ -s "$KUBE_APISERVER_CA" ] && _kas_readyz; then
        _kas_write_kubeconfig
        return 0
      fi
      if [ $SECONDS -ge $deadline ]; then
        _kas_log "not ready after ${timeout}s; last lines of $KUBE_APISERVER_LOG:"
        tail -n 30 "$KUBE_APISERVER_LOG" >&2
        if [ -s "$KUBE_APISERVER_CA" ]; then
          curl -s -m 3 --cacert "$KUBE_APISERVER_CA" -H "Authorization: Bearer $KUBE_APISERVER_TOKEN" \
            "$KUBE_APISERVER_URL/readyz?verbose" 2>/dev/null | grep -v '\] ok$' >&2 || true
        fi
        kube_apiserver_stop
        return 1
      fi
      sleep 0.2
    done
  done
  _kas_log "no port after 3 attempts"
  return 1
}

# kube_apiserver_install_crds [FILE]: apply the CRDs in FILE (default
# hack/kube-apiserver/crds.yaml: kunos.io/v1 Task, Job, Node) and return once
# each is Established, its resource answers a list, and creates are no longer
# delayed (a CRD Established less than 2s ago makes each create sleep 2s).
kube_apiserver_install_crds() {
  local file=${1:-$_KAS_MODDIR/crds.yaml} timeout=${LISTWATCH_KUBE_APISERVER_TIMEOUT:-60}
  local kubectl=${KUBECTL:-kubectl} deadline crds crd
  if [ -z "${KUBE_KUBECONFIG:-}" ]; then
    _kas_log "no KUBE_KUBECONFIG: kube_apiserver_start first"
    return 1
  fi
  "$kubectl" --kubeconfig "$KUBE_KUBECONFIG" apply -f "$file" >&2 || return 1
  crds=$("$kubectl" --kubeconfig "$KUBE_KUBECONFIG" get -f "$file" -o name) || return 1
  # shellcheck disable=SC2086 # one name per word
  "$kubectl" --kubeconfig "$KUBE_KUBECONFIG" wait --for condition=Established \
    --timeout "${timeout}s" $crds >&2 || return 1
  # Established means the handler is installed; make sure kubectl's discovery
  # and a list agree before anyone else relies on it.
  deadline=$((SECONDS + timeout))
  for crd in $crds; do
    crd=${crd#*/} # customresourcedefinition.apiextensions.k8s.io/tasks.kunos.io -> tasks.kunos.io
    until "$kubectl" --kubeconfig "$KUBE_KUBECONFIG" get "$crd" -A -o name >/dev/null 2>&1; do
      if [ $SECONDS -ge $deadline ]; then
        _kas_log "$crd is Established but not served after ${timeout}s"
        "$kubectl" --kubeconfig "$KUBE_KUBECONFIG" get "$crd" -A >&2 || true
        return 1
      fi
      sleep 0.2
    done
  done
  # The CRD handler makes every create sleep 2s while its CRD has been
  # Established for less than 2s (customresource_handler.go, for HA servers
  # that have not yet seen the CRD). Wait that out here, so that the first
  # write of a test or a benchmark is not 2s slow.
  local ltt last=0 wait_ms
  for crd in $crds; do
    ltt=$("$kubectl" --kubeconfig "$KUBE_KUBECONFIG" get "$crd" \
      -o jsonpath='{.status.conditions[?(@.type=="Established")].lastTransitionTime}') || return 1
    ltt=$(date -d "$ltt" +%s) || return 1
    if [ "$ltt" -gt "$last" ]; then last=$ltt; fi
  done
  wait_ms=$(((last + 2) * 1000 + 100 - $(date +%s%3N)))
  if [ "$wait_ms" -gt 0 ]; then
    sleep "$(printf '%d.%03d' $((wait_ms / 1000)) $((wait_ms % 1000)))"
  fi
}

# kube_apiserver_stop: SIGTERM, SIGKILL what is left after 10s, reap it.
# Keeps WORKDIR (the caller owns it). Safe to call twice.
kube_apiserver_stop() {
  local p=${KUBE_APISERVER_PID:-} deadline
  [ -n "$p" ] || return 0
  kill "$p" 2>/dev/null || true
  deadline=$((SECONDS + 10))
  while kill -0 "$p" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
    sleep 0.1
  done
  _kas_reap "$p"
  KUBE_APISERVER_PID=""
}
