#!/usr/bin/env bash
# End-to-end checks across real processes and sockets:
#   1. stock kubectl against the apiserver-stub binary;
#   2. the client-go v0.37 informer compatibility tests (hack/bench module);
#   3. the job-controller demo (--exit-after-demo) on its embedded server;
#   4. server and controller as separate processes, the controller killed
#      mid-Job and restarted: the Job completes with exactly spec.completions
#      succeeded Tasks and no extra Task; /metrics scraped during the run, and
#      a real Prometheus server scrapes it and answers PromQL queries;
#   5. a 3-member etcd cluster (separate processes) and two server replicas
#      over it: the controller on replica A (with B as its fallback), kubectl
#      watching through B; replica A killed mid-Job (the controller moves to
#      B without a relist), then the etcd leader killed; the Job completes
#      with exactly its completions; then one new replica over the same etcd
#      serves every object at the same resourceVersion;
#   6. --data-dir: objects survive kill -9 of the server;
#   7. security: stock kubectl over TLS (--cert-dir, the kubeconfig the
#      server writes, a token user): auth whoami, auth can-i, a rolebinding
#      that lets the second user list Tasks in one namespace only (403
#      elsewhere and across all namespaces); the audit log records it; a
#      non-loopback address without TLS and authentication is refused;
#   8. a real kube-apiserver and kube-controller-manager (its
#      garbagecollector and namespace controllers; both built once per
#      version into ~/.cache/listwatch by hack/lib/kube-apiserver.sh and
#      hack/lib/kube-controller-manager.sh) over etcd, with the generated
#      kunos.io CRDs: the job-controller demo completes against it, our Pod
#      informer and a ConfigMap controller run against it, then the
#      differential conformance suite (test/parity) runs the same requests
#      against it and apiserver-stub (with its controllers) and prints N/M.
# Everything listens on 127.0.0.1 and every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  declare -F kube_controller_manager_stop >/dev/null && kube_controller_manager_stop || true
  declare -F kube_apiserver_stop >/dev/null && kube_apiserver_stop || true
  declare -F etcd_cluster_stop >/dev/null && etcd_cluster_stop || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
log() { echo "e2e: $*"; }
fail() { echo "e2e: FAIL: $*" >&2; for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }; done; exit 1; }

# wait_for CMD... : retry a command for up to $WAIT seconds (default 30).
wait_for() {
  local deadline=$((SECONDS + ${WAIT:-30}))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.2
  done
}
# url_from LOGFILE PREFIX: the first http URL on a line starting with PREFIX.
url_from() { grep -m1 "$2" "$1" 2>/dev/null | grep -o 'http://[0-9.:]*' | head -1; }
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 20000))
    if ! (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo $p; return; fi
  done
  return 1
}

command -v kubectl >/dev/null || fail "kubectl is not on PATH"
log "building binaries"
go build -o "$WORK/apiserver-stub" ./apiserver-stub
go build -o "$WORK/job-controller" ./examples/job-controller

# start_server [LOGNAME [FLAGS...]]: starts apiserver-stub, sets SERVER,
# SERVER_PID and K (kubectl against it).
start_server() {
  local name=${1:-server}
  shift || true
  "$WORK/apiserver-stub" --listen 127.0.0.1:0 --bookmark-interval 5s "$@" >"$WORK/$name.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=($SERVER_PID)
  WAIT=30 wait_for grep -q "serving on" "$WORK/$name.log" || fail "apiserver-stub ($name) did not start"
  SERVER=$(url_from "$WORK/$name.log" "serving on")
  K="kubectl --server $SERVER"
  # The namespaces the sections use; as on a real cluster, creating in a
  # missing one is 404 (AlreadyExists on a restarted or shared store).
  for ns in e2e ha; do
    $K create namespace "$ns" >/dev/null 2>&1 || true
    $K get namespace "$ns" >/dev/null || fail "namespace $ns"
  done
}

# E2E_SECTIONS picks sections to run (default: all), e.g. E2E_SECTIONS="5 6".
want() { [[ " ${E2E_SECTIONS:-1 2 3 4 5 6 7 8} " == *" $1 "* ]]; }

cat >"$WORK/task.yaml" <<'YAML'
apiVersion: kunos.io/v1
kind: Task
metadata:
  name: hello
  namespace: default
spec:
  command: ["echo", "hello"]
YAML
cat >"$WORK/job.yaml" <<'YAML'
apiVersion: kunos.io/v1
kind: Job
metadata:
  name: restartable
  namespace: e2e
spec:
  completions: 24
  parallelism: 3
  template:
    spec:
      command: ["sleep", "1"]
YAML

# ---------------------------------------------------------------- 1. kubectl
if want 1; then
log "1. kubectl against apiserver-stub"
start_server
$K create -f "$WORK/task.yaml" >/dev/null || fail "kubectl create -f"
$K get task hello -n default -o json >"$WORK/hello.json" || fail "kubectl get -o json"
grep -q '"resourceVersion"' "$WORK/hello.json" || fail "get -o json has no resourceVersion"
grep -q '"kind": "Task"' "$WORK/hello.json" || fail "get -o json has no kind"
$K get tasks -n default -w --output-watch-events >"$WORK/watch.out" 2>"$WORK/watch.log" &
WATCH_PID=$!; PIDS+=($WATCH_PID)
WAIT=15 wait_for grep -q hello "$WORK/watch.out" || fail "kubectl get -w showed no initial state"
$K label task hello -n default tier=e2e >/dev/null || fail "kubectl label"
$K get task hello -n default -o jsonpath='{.metadata.labels.tier}' | grep -qx e2e || fail "label not stored"
WAIT=15 wait_for grep -q MODIFIED "$WORK/watch.out" || fail "kubectl get -w did not see the label change"
$K annotate task hello -n default note=yes >/dev/null || fail "kubectl annotate"
$K get tasks -n default -l tier=e2e -o name | grep -q task || fail "label selector"
$K get tasks -A >/dev/null || fail "kubectl get -A"
$K delete task hello -n default >/dev/null || fail "kubectl delete"
WAIT=15 wait_for grep -q DELETED "$WORK/watch.out" || fail "kubectl get -w did not see the delete"
if $K get task hello -n default >/dev/null 2>&1; then fail "task still there after delete"; fi
kill $WATCH_PID 2>/dev/null || true
log "   kubectl create -f, get -o json, get -w, label, annotate, selector, delete: ok"

fi
# ------------------------------------------------------- 2. client-go compat
if want 2; then
log "2. client-go v0.37 informers, pager and workqueue side by side with ours (hack/bench tests)"
(cd hack/bench && go test -count=1 ./...) || fail "client-go side-by-side and compatibility tests"

fi
# -------------------------------------------------------------- 3. the demo
if want 3; then
log "3. go run ./examples/job-controller --exit-after-demo (embedded server)"
timeout 240 "$WORK/job-controller" --exit-after-demo --api-listen 127.0.0.1:0 --metrics-addr 127.0.0.1:0 \
  >"$WORK/demo.log" 2>&1 || fail "demo did not complete (exit $?)"
grep -q "demo Job complete" "$WORK/demo.log" || fail "demo did not report completion"
log "   demo: $(grep -c 'job default/demo' "$WORK/demo.log") progress lines, completed"

fi
# ------------------------------------------- 4. kill and restart mid-Job
if want 4; then
log "4. separate processes: kill the controller mid-Job and restart it"
[ -n "${SERVER:-}" ] || start_server
MPORT=$(free_port) || fail "no free port"
start_controller() {
  # A fixed identity: the restarted process is the Lease's holder again
  # at once, instead of waiting for the killed one's Lease to expire.
  "$WORK/job-controller" --server "$SERVER" --demo=false --metrics-addr "127.0.0.1:$MPORT" \
    --leader-elect --leader-elect-namespace e2e --leader-elect-identity e2e-controller >>"$WORK/controller.log" 2>&1 &
  CONTROLLER_PID=$!; PIDS+=($CONTROLLER_PID)
  WAIT=20 wait_for curl -sf "http://127.0.0.1:$MPORT/readyz" || fail "controller never became ready"
}
# Every Task ever created is recorded from a watch that starts before the Job.
$K get tasks -n e2e -w --output-watch-events -o name >"$WORK/tasks-watch.out" 2>"$WORK/tasks-watch.log" &
PIDS+=($!)
start_controller
$K create -f "$WORK/job.yaml" >/dev/null || fail "create job"
succeeded() { $K get job restartable -n e2e -o jsonpath='{.status.succeeded}' 2>/dev/null; }
WAIT=60 wait_for sh -c "[ \"\$($K get job restartable -n e2e -o jsonpath='{.status.succeeded}')\" -ge 4 ] 2>/dev/null" \
  || fail "job made no progress before the kill"
curl -sf "http://127.0.0.1:$MPORT/metrics" >"$WORK/metrics-1.txt" || fail "scrape /metrics"
kill -9 "$CONTROLLER_PID"
log "   killed the controller at $(succeeded) succeeded"
sleep 1
start_controller
curl -sf "http://127.0.0.1:$MPORT/metrics" >"$WORK/metrics-2.txt" || fail "scrape /metrics"
PPORT=$(free_port) || fail "no free port for prometheus"
WAIT=120 wait_for sh -c "$K get job restartable -n e2e -o jsonpath='{.status.conditions[?(@.type==\"Complete\")].status}' | grep -qx True" \
  || fail "job did not complete after the restart (succeeded=$(succeeded))"
curl -sf "http://127.0.0.1:$MPORT/metrics" >"$WORK/metrics-3.txt" || fail "scrape /metrics"
total=$($K get tasks -n e2e -o name | wc -l)
ok=$($K get tasks -n e2e -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}' | grep -cx Succeeded || true)
created=$(sort -u "$WORK/tasks-watch.out" | grep -c . || true)
[ "$ok" -eq 24 ] || fail "succeeded Tasks: $ok, want exactly 24"
[ "$total" -eq 24 ] || fail "Tasks in the namespace: $total, want 24"
[ "$created" -eq 24 ] || fail "Tasks ever created (from a watch): $created, want 24"
[ "$(succeeded)" -eq 24 ] || fail "job status.succeeded = $(succeeded), want 24"
log "   job complete: 24 succeeded, 24 Tasks ever created, none extra"

# The Lease names the holder; Events are where kubectl shows them.
$K get leases -A | grep -E "^e2e +job-controller +e2e-controller " >/dev/null \
  || fail "kubectl get leases -A does not show e2e/job-controller held by e2e-controller: $($K get leases -A 2>&1)"
$K get events -n e2e >"$WORK/events.txt" || fail "kubectl get events"
for reason in SuccessfulCreate Completed; do
  grep -E "Normal +$reason +job/restartable" "$WORK/events.txt" >/dev/null \
    || fail "kubectl get events -n e2e: no $reason event for job/restartable: $(head -5 "$WORK/events.txt")"
done
$K describe job restartable -n e2e >"$WORK/describe.txt" || fail "kubectl describe job"
sed -n '/^Events:/,$p' "$WORK/describe.txt" | grep -E "Normal +(SuccessfulCreate|Completed) .*job-controller" >/dev/null \
  || fail "kubectl describe job: no job-controller events: $(tail -5 "$WORK/describe.txt")"
log "   kubectl: lease e2e/job-controller held by e2e-controller; get events and describe show SuccessfulCreate and Completed"

# Metrics exist, and move while the restarted process finishes the Job
# (metrics-2 right after it became ready, metrics-3 when the Job completed).
sum() { awk -v m="$1" 'index($0, m)==1 {s+=$NF} END {printf "%d", s}' "$2"; }
for series in 'workqueue_adds_total{name="job"}' 'workqueue_work_duration_seconds_count{name="job"}' \
  'reflector_watch_events_total' 'informer_handler_duration_seconds_count' 'informer_store_objects' \
  'rest_client_requests_total' 'controller_runtime_reconcile_total{controller="job"' \
  'controller_runtime_reconcile_errors_total{controller="job"}' 'controller_runtime_terminal_reconcile_errors_total{controller="job"}' \
  'controller_runtime_reconcile_panics_total{controller="job"}' 'controller_runtime_reconcile_time_seconds_count{controller="job"}' \
  'controller_runtime_active_workers{controller="job"}' 'controller_runtime_max_concurrent_reconciles{controller="job"}' \
  'leader_election_master_status{name="job-controller"} 1'; do
  grep -qF "${series}" "$WORK/metrics-3.txt" || fail "metric $series missing"
done
for series in 'workqueue_adds_total{name="job"}' 'reflector_watch_events_total' 'informer_handler_duration_seconds_count' 'rest_client_requests_total' \
  'controller_runtime_reconcile_total{controller="job"' 'controller_runtime_reconcile_time_seconds_count{controller="job"}'; do
  before=$(sum "$series" "$WORK/metrics-2.txt"); after=$(sum "$series" "$WORK/metrics-3.txt")
  [ "$after" -gt "$before" ] || fail "$series did not move ($before -> $after)"
  log "   $series: $before -> $after"
done

# A real Prometheus scrapes the controller and answers PromQL.
if ! command -v prometheus >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "   installing Debian's prometheus package"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus) >"$WORK/apt.log" 2>&1 \
      || fail "could not install prometheus"
  else
    fail "prometheus is not installed and cannot be installed here (not root)"
  fi
fi
cat >"$WORK/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: job-controller
    static_configs: [{targets: ["127.0.0.1:$MPORT"]}]
YAML
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$PPORT" >"$WORK/prometheus.log" 2>&1 &
PIDS+=($!)
WAIT=30 wait_for curl -sf "http://127.0.0.1:$PPORT/-/ready" || fail "prometheus did not start"
# Keep the controller busy while Prometheus scrapes.
sed 's/restartable/busy/; s/completions: 24/completions: 40/' "$WORK/job.yaml" | $K create -f - >/dev/null
query() { curl -sf --get "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1"; }
WAIT=60 wait_for sh -c "curl -sf --get 'http://127.0.0.1:$PPORT/api/v1/query' --data-urlencode 'query=rate(workqueue_adds_total[15s]) > 0' | grep -q '\"value\"'" \
  || fail "PromQL rate(workqueue_adds_total[15s]) > 0 returned nothing"
query 'count({__name__=~"reflector_.*"})' | grep -q '"value"' || fail "no reflector_ series in Prometheus"
log "   prometheus: rate(workqueue_adds_total[15s]) > 0 and reflector_* series present"

fi
# ------------------------------------- 5. etcd cluster, two server replicas
if want 5; then
log "5. 3-member etcd cluster, two server replicas; kill replica A, then the etcd leader"
source hack/lib/etcd.sh
ETCD_BIN=$(etcd_build) || fail "building etcd"
etcd_cluster_start 3 "$WORK/etcd" || fail "etcd cluster did not start"
log "   etcd $(etcd_version): $ETCD_ENDPOINTS"
ETCD_FLAGS=(--etcd-servers "$ETCD_ENDPOINTS" --etcd-prefix /e2e --compact-interval 30s)
start_server replica-a "${ETCD_FLAGS[@]}"; A=$SERVER; A_PID=$SERVER_PID
start_server replica-b "${ETCD_FLAGS[@]}"; B=$SERVER
KA="kubectl --server $A"; KB="kubectl --server $B"
# Every Task ever created, seen through replica B.
$KB get tasks -n ha -w --output-watch-events -o name >"$WORK/ha-watch.out" 2>"$WORK/ha-watch.log" &
PIDS+=($!)
HPORT=$(free_port) || fail "no free port"
"$WORK/job-controller" --server "$A,$B" --demo=false --metrics-addr "127.0.0.1:$HPORT" >>"$WORK/ha-controller.log" 2>&1 &
PIDS+=($!)
WAIT=30 wait_for curl -sf "http://127.0.0.1:$HPORT/readyz" || fail "controller on replica A never became ready"
sed 's/name: restartable/name: ha/; s/namespace: e2e/namespace: ha/; s/completions: 24/completions: 30/' "$WORK/job.yaml" | $KA create -f - >/dev/null \
  || fail "create job through replica A"
ha_succeeded() { $KB get job ha -n ha -o jsonpath='{.status.succeeded}' 2>/dev/null; }
WAIT=60 wait_for sh -c "[ \"\$($KB get job ha -n ha -o jsonpath='{.status.succeeded}')\" -ge 5 ] 2>/dev/null" \
  || fail "job made no progress on replica A"
relists() { curl -sf "http://127.0.0.1:$HPORT/metrics" | awk '/^reflector_relists_total/ {s+=$NF} END {printf "%d", s}'; }
before=$(relists)
kill -9 "$A_PID"
log "   killed replica A at $(ha_succeeded) succeeded (controller relists so far: $before)"
at=$(ha_succeeded)
WAIT=60 wait_for sh -c "[ \"\$($KB get job ha -n ha -o jsonpath='{.status.succeeded}')\" -ge $((at + 5)) ] 2>/dev/null" \
  || fail "job made no progress after replica A died (succeeded=$(ha_succeeded))"
after=$(relists)
[ "$after" -eq "$before" ] || fail "the controller relisted when it moved to replica B ($before -> $after)"
log "   controller continued on replica B: $(ha_succeeded) succeeded, relists unchanged ($after)"
leader=$(etcd_leader) || fail "no etcd leader"
etcd_kill_member "$leader"
log "   killed etcd leader etcd-$leader at $(ha_succeeded) succeeded"
etcd_wait_leader >/dev/null || fail "etcd elected no new leader"
WAIT=120 wait_for sh -c "$KB get job ha -n ha -o jsonpath='{.status.conditions[?(@.type==\"Complete\")].status}' | grep -qx True" \
  || fail "job did not complete after the etcd leader was killed (succeeded=$(ha_succeeded))"
total=$($KB get tasks -n ha -o name | wc -l)
created=$(sort -u "$WORK/ha-watch.out" | grep -c . || true)
[ "$(ha_succeeded)" -eq 30 ] || fail "job status.succeeded = $(ha_succeeded), want 30"
[ "$total" -eq 30 ] || fail "Tasks in the namespace: $total, want 30"
[ "$created" -eq 30 ] || fail "Tasks ever created (watched through replica B): $created, want 30"
log "   job complete: 30 succeeded, 30 Tasks ever created, none extra"
snapshot() { kubectl --server "$1" get jobs,tasks -A -o custom-columns=KIND:.kind,NS:.metadata.namespace,NAME:.metadata.name,RV:.metadata.resourceVersion --no-headers | sort; }
snapshot "$B" >"$WORK/ha-before.txt"
# Stop every server and controller process, bring the etcd member back,
# and start one new replica over the same etcd.
for p in "${PIDS[@]}"; do [ -n "$p" ] && [ "$p" != "$A_PID" ] && kill "$p" 2>/dev/null || true; done
sleep 1
etcd_restart_member "$leader" || fail "restarting etcd-$leader"
start_server replica-c "${ETCD_FLAGS[@]}"
snapshot "$SERVER" >"$WORK/ha-after.txt"
diff -u "$WORK/ha-before.txt" "$WORK/ha-after.txt" >"$WORK/ha-diff.txt" || fail "a new replica serves different objects or resourceVersions: $(head -20 "$WORK/ha-diff.txt")"
log "   new replica over the same etcd: all $(wc -l <"$WORK/ha-after.txt") Jobs and Tasks, same resourceVersions"
etcd_cluster_stop

fi
# ------------------------------------------------------- 6. --data-dir
if want 6; then
log "6. --data-dir: objects survive kill -9"
start_server durable --data-dir "$WORK/data"
$K create -f "$WORK/task.yaml" >/dev/null || fail "create in --data-dir server"
rv=$($K get task hello -n default -o jsonpath='{.metadata.resourceVersion}')
kill -9 "$SERVER_PID"; sleep 0.5
start_server durable2 --data-dir "$WORK/data"
[ "$($K get task hello -n default -o jsonpath='{.metadata.resourceVersion}')" = "$rv" ] || fail "task lost or changed after kill -9"
log "   task hello@$rv still there after kill -9 and restart"

fi
# ------------------------------------------------------------ 7. security
if want 7; then
log "7. security: kubectl over TLS, token and client-certificate users, RBAC, audit"
if "$WORK/apiserver-stub" --listen 0.0.0.0:0 >"$WORK/insecure.log" 2>&1; then fail "served 0.0.0.0 without TLS and authentication"; fi
grep -q -- "--insecure-allow-unauthenticated-non-loopback" "$WORK/insecure.log" || fail "the refusal does not name the flag: $(cat "$WORK/insecure.log")"
log "   0.0.0.0 without TLS and authentication refused: $(cut -c1-90 "$WORK/insecure.log")..."
printf 'bob-secret,bob,1001,"team-a-readers"\n' >"$WORK/tokens.csv"
"$WORK/apiserver-stub" --listen 127.0.0.1:0 --cert-dir "$WORK/pki" --token-auth-file "$WORK/tokens.csv" \
  --authorization-mode RBAC --write-kubeconfig "$WORK/admin.kubeconfig" --audit-log-path "$WORK/audit.log" >"$WORK/secure.log" 2>&1 &
PIDS+=($!)
WAIT=30 wait_for grep -q "serving on" "$WORK/secure.log" || fail "secured apiserver-stub did not start"
SECURE=$(grep -m1 "serving on" "$WORK/secure.log" | grep -o 'https://[0-9.:]*')
[ -n "$SECURE" ] || fail "not serving https: $(cat "$WORK/secure.log")"
grep -q "BEGIN CERTIFICATE" "$WORK/secure.log" || fail "the server did not print its CA"
KA="kubectl --kubeconfig $WORK/admin.kubeconfig"
cp "$WORK/admin.kubeconfig" "$WORK/bob.kubeconfig"
kubectl --kubeconfig "$WORK/bob.kubeconfig" config set-credentials bob --token=bob-secret >/dev/null
kubectl --kubeconfig "$WORK/bob.kubeconfig" config set-context --current --user=bob >/dev/null
KB="kubectl --kubeconfig $WORK/bob.kubeconfig"
# Without the CA, kubectl refuses the server's certificate.
if kubectl --server "$SECURE" --token bob-secret get tasks -n team-a >/dev/null 2>"$WORK/noca.err"; then fail "kubectl trusted the server without its CA"; fi
grep -qi "certificate" "$WORK/noca.err" || fail "no certificate error without the CA: $(cat "$WORK/noca.err")"
if kubectl --server "$SECURE" --certificate-authority "$WORK/pki/ca.crt" --token wrong get tasks -n team-a >/dev/null 2>"$WORK/badtoken.err"; then fail "a wrong token was accepted"; fi
grep -qE "provide credentials|Unauthorized" "$WORK/badtoken.err" || fail "wrong token: $(cat "$WORK/badtoken.err")"
$KA auth whoami | tee "$WORK/whoami-admin.txt" | sed 's/^/e2e:      /'
grep -q "listwatch-admin" "$WORK/whoami-admin.txt" && grep -q "system:masters" "$WORK/whoami-admin.txt" || fail "admin whoami"
$KB auth whoami | tee "$WORK/whoami-bob.txt" | sed 's/^/e2e:      /'
grep -q "bob" "$WORK/whoami-bob.txt" && grep -q "team-a-readers" "$WORK/whoami-bob.txt" || fail "bob whoami"
[ "$($KA auth can-i '*' '*')" = yes ] || fail "admin cannot do everything"
[ "$($KB auth can-i list tasks -n team-a || true)" = no ] || fail "bob may list tasks before any binding"
$KA create namespace team-a >/dev/null && $KA create namespace team-b >/dev/null || fail "admin create namespaces team-a and team-b"
sed 's/namespace: default/namespace: team-a/' "$WORK/task.yaml" | $KA create -f - >/dev/null || fail "admin create task in team-a"
sed 's/namespace: default/namespace: team-b/' "$WORK/task.yaml" | $KA create -f - >/dev/null || fail "admin create task in team-b"
$KA create role task-reader --verb=get,list,watch --resource=tasks -n team-a >/dev/null || fail "kubectl create role"
$KA create rolebinding bob-reads --role=task-reader --user=bob -n team-a >/dev/null || fail "kubectl create rolebinding"
$KA get rolebindings -n team-a -o wide | sed 's/^/e2e:      /'
can() { $KB auth can-i "$@" 2>/dev/null || true; }
[ "$(can list tasks -n team-a)" = yes ] || fail "can-i list tasks -n team-a: not yes"
[ "$(can watch tasks -n team-a)" = yes ] || fail "can-i watch tasks -n team-a: not yes"
[ "$(can create tasks -n team-a)" = no ] || fail "can-i create tasks -n team-a: not no"
[ "$(can list tasks -n team-b)" = no ] || fail "can-i list tasks -n team-b: not no"
[ "$(can list tasks -A)" = no ] || fail "can-i list tasks -A: not no"
log "   kubectl auth can-i as bob: list/watch in team-a yes; create in team-a, list in team-b, list -A no"
$KB get tasks -n team-a -o name | grep -qx task.kunos.io/hello || fail "bob cannot list tasks in team-a"
$KB get tasks -n team-b >/dev/null 2>"$WORK/bob-b.err" && fail "bob listed tasks in team-b"
grep -q 'Forbidden' "$WORK/bob-b.err" || fail "team-b: $(cat "$WORK/bob-b.err")"
$KB get tasks -A >/dev/null 2>"$WORK/bob-all.err" && fail "bob listed tasks in all namespaces"
grep -q 'Forbidden' "$WORK/bob-all.err" || fail "all namespaces: $(cat "$WORK/bob-all.err")"
$KB delete task hello -n team-a >/dev/null 2>&1 && fail "bob deleted a task"
log "   bob: get tasks -n team-a ok; -n team-b: $(sed 's/Error from server (Forbidden): //' "$WORK/bob-b.err")"
log "   bob: get tasks -A: $(sed 's/Error from server (Forbidden): //' "$WORK/bob-all.err")"
# A namespace watch by bob sees only team-a.
$KB get tasks -n team-a -w --output-watch-events -o name >"$WORK/bob-watch.out" 2>"$WORK/bob-watch.log" &
BW=$!; PIDS+=($BW)
WAIT=15 wait_for grep -q hello "$WORK/bob-watch.out" || fail "bob's watch saw nothing"
sed 's/name: hello/name: other/; s/namespace: default/namespace: team-b/' "$WORK/task.yaml" | $KA create -f - >/dev/null
sed 's/name: hello/name: mine/; s/namespace: default/namespace: team-a/' "$WORK/task.yaml" | $KA create -f - >/dev/null
WAIT=15 wait_for grep -q mine "$WORK/bob-watch.out" || fail "bob's watch did not see a new task in team-a"
kill $BW 2>/dev/null || true
grep -q other "$WORK/bob-watch.out" && fail "bob's watch saw a task of team-b"
log "   bob's watch of team-a: $(tr '\n' ' ' <"$WORK/bob-watch.out")(nothing from team-b)"
# Revoking the binding revokes the access.
$KA delete rolebinding bob-reads -n team-a >/dev/null || fail "delete rolebinding"
[ "$(can list tasks -n team-a)" = no ] || fail "bob may still list after the binding was deleted"
grep -q '"user":"bob".*"namespace":"team-b","code":403' "$WORK/audit.log" || fail "audit log has no 403 for bob in team-b"
log "   audit: $(wc -l <"$WORK/audit.log") events, e.g. $(grep -m1 '"user":"bob".*"code":403' "$WORK/audit.log")"
log "   rolebinding deleted: bob can-i list tasks -n team-a: no"

fi
# ------------------------------------------------ 8. real kube-apiserver
if want 8; then
log "8. a real kube-apiserver and kube-controller-manager: the demo, a Pod informer and a ConfigMap controller against them, then the differential suite (test/parity)"
t8=$SECONDS
source hack/lib/etcd.sh
source hack/lib/kube-apiserver.sh
source hack/lib/kube-controller-manager.sh
ETCD_BIN=$(etcd_build) || fail "building etcd"
KUBE_APISERVER_BIN=$(kube_apiserver_build) || fail "building kube-apiserver"
KUBE_CONTROLLER_MANAGER_BIN=$(kube_controller_manager_build) || fail "building kube-controller-manager"
export KUBE_APISERVER_BIN KUBE_CONTROLLER_MANAGER_BIN
log "   binaries ready in $((SECONDS - t8))s: $KUBE_APISERVER_BIN, $KUBE_CONTROLLER_MANAGER_BIN"
t=$SECONDS
etcd_cluster_start 1 "$WORK/kas-etcd" || fail "etcd for kube-apiserver did not start"
kube_apiserver_start "$WORK/kas" "$ETCD_ENDPOINTS" || fail "kube-apiserver did not start"
kube_apiserver_install_crds apis/kunos/v1/zz_generated.crds.yaml || fail "installing the generated CRDs"
kube_controller_manager_start "$WORK/kcm" || fail "kube-controller-manager did not start"
log "   kube-apiserver $(kube_apiserver_version) ready with the generated CRDs, and kube-controller-manager (garbagecollector, namespace) collecting, in $((SECONDS - t))s: $KUBE_APISERVER_URL"
t=$SECONDS
timeout 300 "$WORK/job-controller" --kubeconfig "$KUBE_KUBECONFIG" --exit-after-demo --metrics-addr 127.0.0.1:0 \
  >"$WORK/kas-demo.log" 2>&1 || fail "demo against kube-apiserver did not complete (exit $?)"
grep -q "demo Job complete" "$WORK/kas-demo.log" || fail "demo against kube-apiserver did not report completion"
succeeded=$(kubectl --kubeconfig "$KUBE_KUBECONFIG" get jobs.kunos.io demo -n default -o jsonpath='{.status.succeeded}')
log "   demo Job default/demo complete against kube-apiserver in $((SECONDS - t))s ($succeeded succeeded)"
t=$SECONDS
go test -count=1 -v -run '^TestBuiltinKindsOnKube$' ./test/parity >"$WORK/builtin.log" 2>&1 || {
  tail -n 20 "$WORK/builtin.log"
  fail "Pod informer and ConfigMap controller against kube-apiserver (test/parity TestBuiltinKindsOnKube)"
}
log "   our Pod informer saw a Pending Pod and our ConfigMap controller copied a key, against kube-apiserver ($((SECONDS - t))s)"
t=$SECONDS
go test -count=1 -v -run '^TestParity$' ./test/parity >"$WORK/parity.log" 2>&1 || {
  grep -E -A2 "DIFF|FLIP|parity:|FAIL|differ" "$WORK/parity.log" | head -40
  fail "differential suite (test/parity): see the rows above"
}
log "   $(grep -m1 '^parity: ' "$WORK/parity.log" | sed 's/; known differences.*//') ($((SECONDS - t))s; known differences, with reasons: test/parity/differences.go)"
kube_controller_manager_stop
kube_apiserver_stop
etcd_cluster_stop
log "   section 8 took $((SECONDS - t8))s"

fi
log "all end-to-end checks passed"
