# shellcheck shell=bash
# A real kube-controller-manager beside hack/lib/kube-apiserver.sh's
# kube-apiserver, running only its garbagecollector and namespace
# controllers: garbage collection of ownerReferences (Background, Foreground,
# Orphan) and namespace deletion, as on a cluster. Source this file (bash)
# after hack/lib/kube-apiserver.sh; safe under `set -euo pipefail`. The
# binary is built from the same module (hack/kube-apiserver/go.mod) and
# cached the same way, by version, outside the repo; every wait is bounded.
#
#   kube_controller_manager_build   build once per version into the cache; print the binary's path
#   kube_controller_manager_start WORKDIR
#                                   start it against the running kube-apiserver
#                                   (KUBE_KUBECONFIG: the admin token) and return once its
#                                   garbage collector has synced its monitors
#   kube_controller_manager_stop    stop it (idempotent; fine in a trap)
#
# After kube_controller_manager_start (all exported):
#   KUBE_CONTROLLER_MANAGER_PID     the process id
#   KUBE_CONTROLLER_MANAGER_LOG     WORKDIR/kube-controller-manager.log
#   KUBE_CONTROLLER_MANAGER_BIN     the binary (set it beforehand to skip the build)
# Settings: LISTWATCH_KUBE_APISERVER_TIMEOUT (seconds for the bounded wait,
# default 60), LISTWATCH_KUBE_CONTROLLER_MANAGER_FLAGS (extra flags,
# word-split; later flags win).
#
# The process is a child of the shell that calls kube_controller_manager_start:
# call it directly, never inside $(...) or a pipeline.

KUBE_CONTROLLER_MANAGER_PID=""

_kcm_log() { echo "kube-controller-manager.sh: $*" >&2; }

# kube_controller_manager_build: the path of kube-controller-manager for the
# pinned k8s.io/kubernetes version, built into the cache first if needed (a
# cold build took ~15 CPU-minutes, 18 minutes on 2 busy cores).
kube_controller_manager_build() {
  if ! declare -F _kas_build >/dev/null; then
    _kcm_log "source hack/lib/kube-apiserver.sh first"
    return 1
  fi
  _kas_build kube-controller-manager
}

_kcm_alive() { [ -n "${KUBE_CONTROLLER_MANAGER_PID:-}" ] && kill -0 "$KUBE_CONTROLLER_MANAGER_PID" 2>/dev/null; }

# kube_controller_manager_start WORKDIR: run the garbagecollector and
# namespace controllers against KUBE_KUBECONFIG's server with the admin's
# credentials (no service-account tokens: the token controller does not
# run), no leader election (one instance) and no serving port, and return
# once the garbage collector reports that its resource monitors synced (it
# then collects; the CRDs installed before the start are among them).
kube_controller_manager_start() {
  local work=${1:?kube_controller_manager_start WORKDIR} timeout=${LISTWATCH_KUBE_APISERVER_TIMEOUT:-60} deadline
  local -a extra=()
  if _kcm_alive; then
    _kcm_log "a kube-controller-manager is already running here (pid $KUBE_CONTROLLER_MANAGER_PID)"
    return 1
  fi
  if [ -z "${KUBE_KUBECONFIG:-}" ]; then
    _kcm_log "no KUBE_KUBECONFIG: kube_apiserver_start first"
    return 1
  fi
  if [ -z "${KUBE_CONTROLLER_MANAGER_BIN:-}" ]; then
    KUBE_CONTROLLER_MANAGER_BIN=$(kube_controller_manager_build) || return 1
  fi
  export KUBE_CONTROLLER_MANAGER_BIN
  mkdir -p "$work" || return 1
  KUBE_CONTROLLER_MANAGER_LOG="$(cd "$work" && pwd)/kube-controller-manager.log"
  export KUBE_CONTROLLER_MANAGER_LOG
  if [ -n "${LISTWATCH_KUBE_CONTROLLER_MANAGER_FLAGS:-}" ]; then
    read -r -a extra <<<"$LISTWATCH_KUBE_CONTROLLER_MANAGER_FLAGS"
  fi
  echo "=== $(date -u +%FT%TZ) start against $KUBE_APISERVER_URL" >>"$KUBE_CONTROLLER_MANAGER_LOG"
  "$KUBE_CONTROLLER_MANAGER_BIN" \
    --kubeconfig="$KUBE_KUBECONFIG" \
    --controllers=garbagecollector,namespace \
    --use-service-account-credentials=false \
    --leader-elect=false \
    --secure-port=0 \
    --concurrent-gc-syncs=5 \
    "${extra[@]}" \
    >>"$KUBE_CONTROLLER_MANAGER_LOG" 2>&1 &
  KUBE_CONTROLLER_MANAGER_PID=$!
  export KUBE_CONTROLLER_MANAGER_PID
  deadline=$((SECONDS + timeout))
  until grep -q 'Proceeding to collect garbage' "$KUBE_CONTROLLER_MANAGER_LOG"; do
    if ! _kcm_alive; then
      wait "$KUBE_CONTROLLER_MANAGER_PID" 2>/dev/null || true
      KUBE_CONTROLLER_MANAGER_PID=""
      _kcm_log "kube-controller-manager exited during startup; last lines of $KUBE_CONTROLLER_MANAGER_LOG:"
      tail -n 30 "$KUBE_CONTROLLER_MANAGER_LOG" >&2
      return 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      _kcm_log "its garbage collector did not start collecting within ${timeout}s; last lines of $KUBE_CONTROLLER_MANAGER_LOG:"
      tail -n 30 "$KUBE_CONTROLLER_MANAGER_LOG" >&2
      kube_controller_manager_stop
      return 1
    fi
    sleep 0.2
  done
  if grep -q 'not all resource monitors could be synced' "$KUBE_CONTROLLER_MANAGER_LOG"; then
    _kcm_log "warning: the garbage collector started before all its monitors synced (see $KUBE_CONTROLLER_MANAGER_LOG)"
  fi
}

# kube_controller_manager_stop: SIGTERM, SIGKILL what is left after 10s, reap it.
kube_controller_manager_stop() {
  local p=${KUBE_CONTROLLER_MANAGER_PID:-} deadline
  [ -n "$p" ] || return 0
  kill "$p" 2>/dev/null || true
  deadline=$((SECONDS + 10))
  while kill -0 "$p" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
    sleep 0.1
  done
  kill -9 "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  KUBE_CONTROLLER_MANAGER_PID=""
}
