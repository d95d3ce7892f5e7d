// Command benchtable turns `go test -bench` output from hack/bench (any
// -count) into the comparison table of hack/bench.sh: one row per workload
// with the median of listwatch's runs, the median of the anchor's, and
// their ratio oriented so that higher is better for listwatch.
//
//	go test -run '^$' -bench . -count 5 . | go run ./cmd/benchtable -json rows.json
//
// Rows with a goal come first, in the order of the rows table below; every
// other listwatch/client-go pair of benchmarks (same name but for the
// implementation segment) follows with ns/op. Rows not measured in a run
// (other scripts measure them) are listed with the command that does.
// Benchmarks measure; this tool never fails on a ratio.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Row is one line of the table, as written to the JSON file.
type Row struct {
	Workload   string   `json:"workload"`
	Unit       string   `json:"unit"`
	Listwatch  *float64 `json:"listwatch"`
	Anchor     *float64 `json:"anchor"`
	AnchorName string   `json:"anchor_name"`
	// Ratio is anchor/listwatch for a unit where lower is better (ns/op,
	// B/object) and listwatch/anchor where higher is better (writes/s):
	// above 1, listwatch is ahead.
	Ratio *float64 `json:"ratio"`
	Goal  string   `json:"goal"`
	// Runs is the number of runs behind each median (the smaller side).
	Runs    int    `json:"runs,omitempty"`
	Note    string `json:"note,omitempty"`
	Command string `json:"command,omitempty"`
}

// spec names a row measured by a pair of hack/bench benchmarks.
type spec struct {
	workload     string
	ours, anchor string // benchmark names without the -GOMAXPROCS suffix
	metric       string // the unit of the value compared
	higherBetter bool
	goal         string
	anchorName   string // default client-go v0.37
	anchorMetric string // default metric
}

const anchor = "client-go v0.37"

var rows = []spec{
	{"cache write with no readers (BenchmarkIndexer shape)", "BenchmarkCacheIndexer/impl=listwatch", "BenchmarkCacheIndexer/impl=client-go", "ns/op", false, "≥ 1.0", "", ""},
	{"cache writes/s with 10 readers listing 10k objects", "BenchmarkCacheThroughput/read=List/readers=10/impl=listwatch", "BenchmarkCacheThroughput/read=List/readers=10/impl=client-go", "writes/s", true, "≥ 100", "", ""},
	{"cache bytes retained per object (2 indices, 10k objects)", "BenchmarkCacheRetained/impl=listwatch", "BenchmarkCacheRetained/impl=client-go", "B/object", false, "≥ 1.0", "", ""},
	{"informer sink → 1 handler, lossless delivery", "BenchmarkInformerEvents/handlers=1/listwatch-Unbounded", "BenchmarkInformerEvents/handlers=1/client-go", "ns/op", false, "≥ 2.0", "", ""},
	{"informer sink → 1 handler, coalescing delivery (may skip states)", "BenchmarkInformerEvents/handlers=1/listwatch-Coalesce", "BenchmarkInformerEvents/handlers=1/client-go", "ns/op", false, "— (not lossless)", "", ""},
	{"workqueue, contended (8 producers, 2 workers)", "BenchmarkWorkqueue/Contended/listwatch", "BenchmarkWorkqueue/Contended/client-go", "ns/op", false, "≥ 1.2", "", ""},
	// cmd/drainbench: each informer syncs 100k Tasks in a process of its own.
	{"client, initial sync of 100k Tasks: peak heap above the start", syncBench("listwatch"), syncBench("client-go"), "peak-MB", false, "≥ 1.67 (≤ 0.6×)", "", ""},
	{"client, initial sync of 100k Tasks: retained heap per cached object (informer + cache)", syncBench("listwatch"), syncBench("client-go"), "retained-B/object", false, "≥ 1.25 (≤ 0.8×)", "", ""},
	{"client, initial sync of 100k Tasks: time", syncBench("listwatch"), syncBench("client-go"), "ms", false, "—", "", ""},
	{"client, initial sync of 100k Tasks: CPU", syncBench("listwatch"), syncBench("client-go"), "cpu-ms", false, "—", "", ""},
	// The same in one process with the server (hack/bench), 10k Tasks.
	{"client, initial sync of 10k Tasks (watch-list, in-process): peak heap above the start", "BenchmarkReflectorInitialSync/listwatch/watch-list", "BenchmarkReflectorInitialSync/client-go/watch-list", "peak-MB", false, "—", "", ""},
	{"client, retained heap per cached object (reflector + cache, 10k Tasks, in-process)", "BenchmarkReflectorInitialSync/listwatch/watch-list", "BenchmarkReflectorInitialSync/client-go/watch-list", "retained-B/object", false, "—", "", ""},
	// cmd/fanout: each party's server, watchers and writers in processes of their own.
	{"server, 1000 watchers each receiving every write: writes/s while fanning out", fanout("broadcast", "listwatch"), fanout("broadcast", "etcd"), "writes/s", true, "≥ 1.0", etcdAnchor, ""},
	{"server, 1000 broadcast watchers: deliveries/s", fanout("broadcast", "listwatch"), fanout("broadcast", "etcd"), "events/s", true, "≥ 1.0", etcdAnchor, ""},
	{"server, 1000 broadcast watchers: server CPU per delivered event", fanout("broadcast", "listwatch"), fanout("broadcast", "etcd"), "server-us/event", false, "≥ 1.0", etcdAnchor, ""},
	{"server, 1000 broadcast watchers: watcher-side CPU per event (HTTP/1.1 chunked vs gRPC)", fanout("broadcast", "listwatch"), fanout("broadcast", "etcd"), "watcher-us/event", false, "≥ 1.0", etcdAnchor, ""},
	{"server, selective watches (1000 watchers, one node each): server CPU per delivery", fanout("selective", "listwatch"), fanout("selective", "etcd"), "server-us/event", false, "≥ 1.0", etcdAnchor, ""},
	{"server, 1000 watchers, writes paced at 300/s: delivery p99", fanout("paced", "listwatch"), fanout("paced", "etcd"), "p99-ms", false, "—", etcdAnchor, ""},
	{"server, 1000 watchers, writes paced at 300/s: server CPU per delivered event", fanout("paced", "listwatch"), fanout("paced", "etcd"), "server-us/event", false, "—", etcdAnchor, ""},
	{"server over etcd, 1000 broadcast watchers: writes/s (the same etcd in its process)", fanout("broadcast", "listwatch-etcd"), fanout("broadcast", "etcd"), "writes/s", true, "—", etcdAnchor, ""},
	// cmd/drainbench: each party drains the same backlog of watch events
	// in a process of its own.
	{"end to end, share of the raw-JSON reader's drain rate, lossless delivery", drain("listwatch"), drain("raw"), "events/s", true, "≥ 0.85", rawAnchor, ""},
	{"end to end, drain rate vs client-go's informer", drain("listwatch"), drain("client-go"), "events/s", true, "≥ 1.0", "", ""},
	{"end to end CPU per event", drain("listwatch"), drain("client-go"), "us/event", false, "≥ 1.0", "", ""},
	// apiserver-stub/storage: the memory store's live heap per object,
	// against etcd's heap and database for the same objects, and against
	// the objects' JSON.
	{"server heap per stored object (100k small Tasks), against etcd's heap + database", "BenchmarkHeapPerObject/objects=100000", "BenchmarkHeapPerObjectEtcd/objects=100000", "heapB/object", false, "≥ 1.0", "etcd v3.7 (embedded)", "heap+dbB/object"},
	{"server heap per stored object (100k Tasks of ~1 KB, as served), against the object's JSON", "BenchmarkHeapPerObject/objects=100000,object=1KB", "BenchmarkHeapPerObject/objects=100000,object=1KB", "heapB/object", false, "≥ 0.77 (≤ 1.3× the JSON)", "the object's JSON", "jsonB/object"},
	{"server heap per stored object (100k small Tasks, ~380 B), against the object's JSON", "BenchmarkHeapPerObject/objects=100000", "BenchmarkHeapPerObject/objects=100000", "heapB/object", false, "— (the fixed cost per object shows)", "the object's JSON", "jsonB/object"},
	// cmd/kubebench (hack/bench-kube.sh): each party's informer in a process of its own.
	{"built-in types on a real kube-apiserver (2,000 ConfigMaps): watch-list sync CPU", kubeBench("sync", "listwatch-protobuf"), kubeBench("sync", "client-go-protobuf"), "ms", false, "≥ 1.0", kubeAnchor, ""},
	{"built-in types on a real kube-apiserver (2,000 ConfigMaps): CPU per 1,000 watch events", kubeBench("events", "listwatch-protobuf"), kubeBench("events", "client-go-protobuf"), "ms/1000events", false, "≥ 1.0", kubeAnchor, ""},
}

// kubeAnchor is the anchor of the kube-apiserver rows: client-go's default
// for k8s.io/api kinds.
const kubeAnchor = "client-go v0.37 (protobuf)"

// kubeBench names a cmd/kubebench measurement.
func kubeBench(phase, impl string) string {
	return "BenchmarkKubeConfigMaps/" + phase + "/impl=" + impl
}

// rawAnchor is the limit of the end-to-end rows: a watch read line by line
// and decoded with encoding/json, with no cache and no handler.
const rawAnchor = "encoding/json reader, no cache"

// drain names a cmd/drainbench party.
func drain(impl string) string { return "BenchmarkDrainTasks/impl=" + impl }

// etcdAnchor is the fan-out rows' anchor: an etcd member, its watches
// multiplexed on one client.
const etcdAnchor = "etcd v3.7 (one client)"

// syncBench names cmd/drainbench's initial sync of 100k Tasks.
func syncBench(impl string) string { return "BenchmarkInitialSync/objects=100000/impl=" + impl }

// fanout names a cmd/fanout case of 1000 watchers.
func fanout(mode, impl string) string {
	return "BenchmarkServerFanout/mode=" + mode + "/watchers=1000/impl=" + impl
}

// notMeasured are the rows that other scripts measure.
var notMeasured = []Row{
	{Workload: "built-in types on a real kube-apiserver (2,000 ConfigMaps): watch-list sync CPU", Unit: "ms", AnchorName: kubeAnchor, Goal: "≥ 1.0", Command: "hack/bench-kube.sh"},
	{Workload: "built-in types on a real kube-apiserver (2,000 ConfigMaps): CPU per 1,000 watch events", Unit: "ms/1000events", AnchorName: kubeAnchor, Goal: "≥ 1.0", Command: "hack/bench-kube.sh"},
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+\d+\s+(.*)$`)

// parse reads benchmark lines: name -> unit -> values, one per run.
func parse(r io.Reader) (map[string]map[string][]float64, []string, error) {
	out := map[string]map[string][]float64{}
	var order []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		name := m[1]
		f := strings.Fields(m[3])
		if _, ok := out[name]; !ok {
			out[name] = map[string][]float64{}
			order = append(order, name)
		}
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			out[name][f[i+1]] = append(out[name][f[i+1]], v)
		}
	}
	return out, order, sc.Err()
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func ptr(v float64) *float64 { return &v }

// makeRow compares ours' metric with theirs' anchorMetric (metric when
// empty).
func makeRow(res map[string]map[string][]float64, workload, ours, theirs, metric, anchorMetric string, higherBetter bool, goal string) (Row, bool) {
	if anchorMetric == "" {
		anchorMetric = metric
	}
	a, b := res[ours][metric], res[theirs][anchorMetric]
	if len(a) == 0 || len(b) == 0 {
		return Row{}, false
	}
	lw, an := median(a), median(b)
	ratio := math.NaN()
	switch {
	case higherBetter && an > 0:
		ratio = lw / an
	case !higherBetter && lw > 0:
		ratio = an / lw
	}
	r := Row{Workload: workload, Unit: metric, Listwatch: ptr(lw), Anchor: ptr(an), AnchorName: anchor, Goal: goal, Runs: min(len(a), len(b))}
	if !math.IsNaN(ratio) {
		r.Ratio = ptr(ratio)
	}
	return r, true
}

// implSegment finds the implementation part of a benchmark name.
var implSegment = regexp.MustCompile(`(impl=)?(listwatch|client-go)[^/]*`)

func build(res map[string]map[string][]float64, order []string) []Row {
	var out []Row
	used := map[string]bool{}
	for _, s := range rows {
		if r, ok := makeRow(res, s.workload, s.ours, s.anchor, s.metric, s.anchorMetric, s.higherBetter, s.goal); ok {
			if s.anchorName != "" {
				r.AnchorName = s.anchorName
			}
			out = append(out, r)
			used[s.ours] = true
		}
	}
	// Every other listwatch benchmark with a client-go twin, on ns/op.
	for _, name := range order {
		loc := implSegment.FindStringSubmatchIndex(name)
		if loc == nil || used[name] || name[loc[4]:loc[5]] != "listwatch" {
			continue
		}
		twin := name[:loc[0]] + "client-go" + name[loc[1]:]
		if loc[2] >= 0 {
			twin = name[:loc[0]] + "impl=client-go" + name[loc[1]:]
		}
		// The workload is the name without the implementation segment;
		// a listwatch variant (listwatch-Coalesce) is named after it.
		impl := name[loc[0]:loc[1]]
		workload := strings.TrimSuffix(strings.TrimPrefix(name[:loc[0]]+name[loc[1]:], "Benchmark"), "/")
		workload = strings.ReplaceAll(workload, "//", "/")
		if v := strings.TrimPrefix(strings.TrimPrefix(impl, "impl="), "listwatch"); v != "" {
			workload += " (" + strings.TrimPrefix(v, "-") + ")"
		}
		if r, ok := makeRow(res, workload, name, twin, "ns/op", "", false, "—"); ok {
			out = append(out, r)
		}
	}
	return out
}

func num(p *float64) string {
	if p == nil {
		return "—"
	}
	v := *p
	switch {
	case v >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func markdown(w io.Writer, rs []Row) {
	fmt.Fprintln(w, "| workload | unit | listwatch | anchor | anchor name | ratio (> 1: listwatch ahead) | goal |")
	fmt.Fprintln(w, "|---|---|---:|---:|---|---:|---|")
	for _, r := range rs {
		ratio := num(r.Ratio)
		if r.Ratio != nil {
			ratio += "×"
		}
		if r.Note != "" {
			ratio = r.Note
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", r.Workload, r.Unit, num(r.Listwatch), num(r.Anchor), r.AnchorName, ratio, r.Goal)
	}
}

func main() {
	jsonPath := flag.String("json", "", "write the rows as JSON to this file")
	withOthers := flag.Bool("not-measured", true, "list the rows other scripts measure, with their command")
	flag.Parse()
	res, order, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	rs := build(res, order)
	if *withOthers {
		for _, r := range notMeasured {
			if slices.ContainsFunc(rs, func(m Row) bool { return m.Workload == r.Workload }) {
				continue // measured in this run after all
			}
			r.Note = "not measured in this run: `" + r.Command + "`"
			rs = append(rs, r)
		}
	}
	markdown(os.Stdout, rs)
	if *jsonPath != "" {
		b, err := json.MarshalIndent(rs, "", "  ")
		if err == nil {
			err = os.WriteFile(*jsonPath, append(b, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchtable:", err)
			os.Exit(1)
		}
	}
}
