#!/usr/bin/env bash
# Self-test of hack/lib/kube-apiserver.sh: a real kube-apiserver (built from
# the module proxy, cached by version) over a one-member etcd on 127.0.0.1,
# the kunos.io/v1 CRDs installed, stock kubectl creating, reading and
# field-selecting Tasks, then the job-controller demo run against it until its
# Job completes. One line per step; every wait is bounded; the processes and
# the work dir go away on exit (KEEP_WORK=1 keeps the dir and its logs).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=hack/lib/etcd.sh
source hack/lib/etcd.sh
# shellcheck source=hack/lib/kube-apiserver.sh
source hack/lib/kube-apiserver.sh

KUBECTL=${KUBECTL:-kubectl}
WORK=$(mktemp -d)
DEMO_PID=""
cleanup() {
  local rc=$?
  if [ -n "$DEMO_PID" ]; then
    kill -- -"$DEMO_PID" 2>/dev/null || kill "$DEMO_PID" 2>/dev/null || true
    wait "$DEMO_PID" 2>/dev/null || true
  fi
  kube_apiserver_stop
  etcd_cluster_stop
  if [ "${KEEP_WORK:-}" = 1 ]; then
    echo "kube-apiserver-selftest: work dir kept: $WORK" >&2
  else
    rm -rf "$WORK"
  fi
  return $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1fs", b - a }'; }
step() { echo "kube-apiserver-selftest: $*"; }
fail() {
  echo "kube-apiserver-selftest: FAIL: $*" >&2
  local f
  for f in "$WORK"/kas/kube-apiserver.log "$WORK"/etcd/etcd-*.log "$WORK"/demo.log; do
    [ -f "$f" ] || continue
    echo "--- $f" >&2
    tail -n 25 "$f" >&2
  done
  exit 1
}
k() { "$KUBECTL" --kubeconfig "$KUBE_KUBECONFIG" --request-timeout=20s "$@"; }

START=$EPOCHREALTIME

t=$EPOCHREALTIME
KUBE_APISERVER_BIN=$(kube_apiserver_build) || fail "kube_apiserver_build"
step "1. kube_apiserver_build: $KUBE_APISERVER_BIN ($("$KUBE_APISERVER_BIN" --version)) in $(since "$t")"

t=$EPOCHREALTIME
etcd_cluster_start 1 "$WORK/etcd" || fail "etcd_cluster_start 1"
step "2. etcd healthy in $(since "$t"): $ETCD_ENDPOINTS"

t=$EPOCHREALTIME
kube_apiserver_start "$WORK/kas" "$ETCD_ENDPOINTS" || fail "kube_apiserver_start"
step "3. kube-apiserver ready in $(since "$t"): $KUBE_APISERVER_URL (pid $KUBE_APISERVER_PID)"

ver=$(k get --raw /version | jq -r .gitVersion) || fail "GET /version"
[ "$ver" = "$(kube_apiserver_version)" ] || fail "/version says $ver, want $(kube_apiserver_version)"
who=$(k auth whoami -o jsonpath='{.status.userInfo.username} {.status.userInfo.groups}') || fail "kubectl auth whoami"
case "$who" in "admin "*system:masters*) ;; *) fail "kubectl auth whoami: $who" ;; esac
step "4. kubectl: /version $ver, authenticated as $who"

t=$EPOCHREALTIME
kube_apiserver_install_crds hack/kube-apiserver/crds.yaml || fail "kube_apiserver_install_crds"
res=$(k api-resources --api-group=kunos.io --no-headers | awk '{print $1 "(" $(NF-1) ")"}' | sort | tr '\n' ' ')
step "5. CRDs Established and served in $(since "$t"): $res"

k create namespace selftest >/dev/null || fail "create namespace selftest"
cat >"$WORK/task-x.yaml" <<'EOF'
apiVersion: kunos.io/v1
kind: Task
metadata:
  name: on-x
  namespace: selftest
  labels:
    app: selftest
spec:
  command: ["sleep", "1"]
  nodeName: x
  timeoutSeconds: 30
EOF
# "y" quoted: a bare y is YAML 1.1 for true, and the schema says string.
sed -e 's/name: on-x/name: on-y/' -e 's/nodeName: x/nodeName: "y"/' "$WORK/task-x.yaml" >"$WORK/task-y.yaml"
k create -f "$WORK/task-x.yaml" -f "$WORK/task-y.yaml" >/dev/null || fail "kubectl create -f task-x.yaml -f task-y.yaml"
k get task on-x -n selftest -o json >"$WORK/task-x.json" || fail "kubectl get task on-x -o json"
jq -e '.apiVersion == "kunos.io/v1" and .kind == "Task" and .metadata.uid != null
  and .metadata.generation == 1 and (.metadata.resourceVersion | length) > 0
  and .spec.nodeName == "x" and .spec.command == ["sleep","1"] and .spec.timeoutSeconds == 30' \
  "$WORK/task-x.json" >/dev/null || fail "task on-x: unexpected JSON: $(cat "$WORK/task-x.json")"
step "6. kubectl create -f, get -o json: uid $(jq -r .metadata.uid "$WORK/task-x.json"), rv $(jq -r .metadata.resourceVersion "$WORK/task-x.json"), generation 1"

got=$(k get tasks -n selftest --field-selector spec.nodeName=x -o name | tr '\n' ' ')
[ "$got" = "task.kunos.io/on-x " ] || fail "--field-selector spec.nodeName=x: got '$got'"
got=$(k get tasks -A --field-selector spec.nodeName=y -o name | tr '\n' ' ')
[ "$got" = "task.kunos.io/on-y " ] || fail "-A --field-selector spec.nodeName=y: got '$got'"
# .status through the status subresource only; the main resource ignores it.
k patch task on-x -n selftest --subresource=status --type=merge -p '{"status":{"phase":"Running"}}' >/dev/null ||
  fail "kubectl patch --subresource=status"
k patch task on-y -n selftest --type=merge -p '{"status":{"phase":"Running"}}' >/dev/null || fail "kubectl patch (main resource)"
got=$(k get tasks -n selftest --field-selector status.phase=Running -o name | tr '\n' ' ')
[ "$got" = "task.kunos.io/on-x " ] || fail "--field-selector status.phase=Running: got '$got'"
gen=$(k get task on-x -n selftest -o jsonpath='{.metadata.generation}')
[ "$gen" = 1 ] || fail "a status update changed generation to $gen"
k patch task on-x -n selftest --type=merge -p '{"spec":{"nodeName":"z"}}' >/dev/null || fail "kubectl patch spec"
gen=$(k get task on-x -n selftest -o jsonpath='{.metadata.generation}')
[ "$gen" = 2 ] || fail "a spec update left generation at $gen, want 2"
if k get tasks -n selftest --field-selector spec.command=x -o name >/dev/null 2>"$WORK/badsel.err"; then
  fail "--field-selector spec.command=x (not selectable) was accepted"
fi
step "7. --field-selector spec.nodeName and status.phase select; /status alone sets .status; generation 1 -> 2 on a spec change only; an unselectable field is refused"
k delete namespace selftest --wait=false >/dev/null || fail "delete namespace selftest"

t=$EPOCHREALTIME
go build -o "$WORK/job-controller" ./examples/job-controller || fail "go build ./examples/job-controller"
step "8. built examples/job-controller in $(since "$t")"

t=$EPOCHREALTIME
set +e
# Its own process group, so that cleanup can end it and everything it started.
setsid timeout 300 "$WORK/job-controller" --kubeconfig "$KUBE_KUBECONFIG" --exit-after-demo \
  --metrics-addr 127.0.0.1:0 >"$WORK/demo.log" 2>&1 &
DEMO_PID=$!
wait "$DEMO_PID"
rc=$?
DEMO_PID=""
set -e
sed 's/^/    demo| /' "$WORK/demo.log"
[ "$rc" -eq 0 ] || fail "job-controller --exit-after-demo exited $rc after $(since "$t")"
k get jobs.kunos.io demo -n default -o json >"$WORK/demo-job.json" || fail "kubectl get jobs.kunos.io demo"
jq -e '.status.succeeded == 20 and ((.status.conditions // []) | map(select(.type == "Complete" and .status == "True")) | length) == 1' \
  "$WORK/demo-job.json" >/dev/null || fail "demo Job status: $(jq -c .status "$WORK/demo-job.json")"
ntasks=$(k get tasks -n default -l app=demo --field-selector status.phase=Succeeded -o name | wc -l)
[ "$ntasks" -eq 20 ] || fail "want 20 Succeeded demo Tasks, got $ntasks"
step "9. job-controller demo complete against kube-apiserver in $(since "$t"): Job default/demo 20/20 succeeded, $ntasks Tasks Succeeded"

step "PASS in $(since "$START")"
