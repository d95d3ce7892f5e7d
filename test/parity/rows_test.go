package parity

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	jsonCT  = "application/json"
	mergeCT = "application/merge-patch+json"
	patchCT = "application/json-patch+json"
	applyCT = "application/apply-patch+yaml"
)

func tasks(ns string) string { return "/apis/kunos.io/v1/namespaces/" + ns + "/tasks" }
func jobs(ns string) string  { return "/apis/kunos.io/v1/namespaces/" + ns + "/jobs" }

const nodes = "/apis/kunos.io/v1/nodes"

func task(name, node string, extra ...string) string {
	spec := `"command":["true"]`
	if node != "" {
		spec += `,"nodeName":"` + node + `"`
	}
	labels := ""
	if len(extra) > 0 {
		labels = `,"labels":{` + extra[0] + `}`
	}
	return `{"apiVersion":"kunos.io/v1","kind":"Task","metadata":{"name":"` + name + `"` + labels + `},"spec":{` + spec + `}}`
}

func job(name, spec string) string {
	return `{"apiVersion":"kunos.io/v1","kind":"Job","metadata":{"name":"` + name + `"},"spec":` + spec + `}`
}

// rvOf returns the resourceVersion of an object answer as an integer.
func rvOf(r response) int64 {
	n, _ := strconv.ParseInt(str(r.obj, "metadata.resourceVersion"), 10, 64)
	return n
}

// gcRows are the rows that need a garbage collector and a namespace
// controller beside each server; without kube-controller-manager (no
// KUBE_CONTROLLER_MANAGER_PID) they are left out.
var gcRows = map[string]bool{
	"cascade Background: the dependents are collected":                 true,
	"cascade Foreground: the owner waits for a held dependent":         true,
	"cascade Orphan: the dependents stay without their ownerReference": true,
	"namespace deletion: Terminating, emptied, then gone":              true,
}

// rows is the suite, in order; rows build on the state earlier rows left.
func rows() []row {
	return []row{
		// ---------------------------------------------------------- create
		{"create", func(t *testing.T, tg *target, ns string) obs {
			r := tg.do(t, "POST", tasks(ns), jsonCT, task("a", "n1", `"app":"x"`))
			tg.vars["rv.a"] = str(r.obj, "metadata.resourceVersion")
			return object(r)
		}},
		{"create of an existing name", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "POST", tasks(ns), jsonCT, task("a", "")))
		}},
		{"create with generateName", func(t *testing.T, tg *target, ns string) obs {
			r := tg.do(t, "POST", tasks(ns), jsonCT, `{"apiVersion":"kunos.io/v1","kind":"Task","metadata":{"generateName":"gen-"},"spec":{}}`)
			o := status(r)
			name := str(r.obj, "metadata.name")
			o["name shape"] = strings.HasPrefix(name, "gen-") && len(name) == len("gen-")+5
			return o
		}},
		{"create with metadata.resourceVersion set", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "POST", tasks(ns), jsonCT, `{"apiVersion":"kunos.io/v1","kind":"Task","metadata":{"name":"rvset","resourceVersion":"5"}}`))
		}},
		{"create with an invalid name", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "POST", tasks(ns), jsonCT, task("Not_Valid", "")))
		}},
		{"create with a name in the body and the path's namespace differing", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "POST", tasks(ns), jsonCT, `{"apiVersion":"kunos.io/v1","kind":"Task","metadata":{"name":"other","namespace":"elsewhere"}}`))
		}},
		{"create with the wrong kind", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "POST", tasks(ns), jsonCT, `{"apiVersion":"kunos.io/v1","kind":"Job","metadata":{"name":"wk"}}`))
		}},
		{"create without apiVersion and kind", func(t *testing.T, tg *target, ns string) obs {
			o := status(tg.do(t, "POST", tasks(ns), jsonCT, `{"metadata":{"name":"nokind"}}`))
			// A known difference (created here, 400 there): leave no object
			// behind that later rows would count.
			tg.do(t, "DELETE", tasks(ns)+"/nokind", "", "")
			return o
		}},
		{"create with malformed JSON", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "POST", tasks(ns), jsonCT, `{"apiVersion":`))
		}},
		{"create with an unsupported media type", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "POST", tasks(ns), "text/plain", task("media", "")))
		}},
		{"create in a namespace that does not exist", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "POST", tasks(ns+"-missing"), jsonCT, task("x", "")))
		}},
		{"create drops .status", func(t *testing.T, tg *target, ns string) obs {
			r := tg.do(t, "POST", tasks(ns), jsonCT, `{"apiVersion":"kunos.io/v1","kind":"Task","metadata":{"name":"st"},"status":{"phase":"Running"}}`)
			o := object(r)
			o["status.phase"] = str(r.obj, "status.phase")
			return o
		}},
		// ------------------------------------------------------ validation
		{"validation: negative counts", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "POST", jobs(ns), jsonCT, job("neg", `{"completions":-1,"parallelism":-1,"backoffLimit":-1,"template":{}}`)))
		}},
		{"validation: zero counts are fine", func(t *testing.T, tg *target, ns string) obs {
			return object(tg.do(t, "POST", jobs(ns), jsonCT, job("zero", `{"completions":0,"parallelism":0,"backoffLimit":0,"template":{}}`)))
		}},
		{"validation: a string for an integer", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "POST", jobs(ns), jsonCT, job("str", `{"completions":"3","template":{}}`)))
		}},
		{"validation: a float for an integer", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "POST", tasks(ns), jsonCT, `{"apiVersion":"kunos.io/v1","kind":"Task","metadata":{"name":"fl"},"spec":{"timeoutSeconds":1.5}}`))
		}},
		{"validation: int32 overflow", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "POST", nodes, jsonCT, `{"apiVersion":"kunos.io/v1","kind":"Node","metadata":{"name":"big-`+ns+`"},"spec":{"capacity":3000000000}}`))
		}},
		{"validation: an array for a string list", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "POST", tasks(ns), jsonCT, `{"apiVersion":"kunos.io/v1","kind":"Task","metadata":{"name":"cmd"},"spec":{"command":"ls"}}`))
		}},
		{"validation: a required field missing", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "POST", jobs(ns), jsonCT, job("notemplate", `{"completions":1}`)))
		}},
		{"validation: timeoutSeconds below its minimum", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "POST", tasks(ns), jsonCT, `{"apiVersion":"kunos.io/v1","kind":"Task","metadata":{"name":"tmo"},"spec":{"timeoutSeconds":0}}`))
		}},
		{"validation: negative Node capacity", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "POST", nodes, jsonCT, `{"apiVersion":"kunos.io/v1","kind":"Node","metadata":{"name":"neg-`+ns+`"},"spec":{"capacity":-1}}`))
		}},
		{"validation: metadata and schema errors together", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "POST", jobs(ns), jsonCT, job("Bad_Name", `{"completions":-5,"template":{}}`)))
		}},
		{"validation: a wrong type in metadata", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "POST", tasks(ns), jsonCT, `{"apiVersion":"kunos.io/v1","kind":"Task","metadata":{"name":"ml","labels":"x"}}`))
		}},
		{"validation: unknown phase via /status", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "PATCH", tasks(ns)+"/a/status", mergeCT, `{"status":{"phase":"Bogus"}}`))
		}},
		{"validation: nothing stored after a 422", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "GET", jobs(ns)+"/neg", "", ""))
		}},
		// ------------------------------------------------------------- get
		{"get", func(t *testing.T, tg *target, ns string) obs {
			r := tg.do(t, "GET", tasks(ns)+"/a", "", "")
			o := object(r)
			o["same resourceVersion as created"] = str(r.obj, "metadata.resourceVersion") == tg.vars["rv.a"]
			return o
		}},
		{"get of a missing object", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "GET", tasks(ns)+"/missing", "", ""))
		}},
		{"get with resourceVersion=0", func(t *testing.T, tg *target, ns string) obs {
			return object(tg.do(t, "GET", tasks(ns)+"/a?resourceVersion=0", "", ""))
		}},
		{"get of an unknown resource", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "GET", "/apis/kunos.io/v1/namespaces/"+ns+"/widgets", "", ""))
		}},
		{"get of an unknown group", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "GET", "/apis/nope.example.com/v1/things", "", ""))
		}},
		// ---------------------------------------------------------- update
		{"update with a stale resourceVersion", func(t *testing.T, tg *target, ns string) obs {
			body := strings.Replace(task("a", "n1"), `"name":"a"`, `"name":"a","resourceVersion":"1"`, 1)
			return status(tg.do(t, "PUT", tasks(ns)+"/a", jsonCT, body))
		}},
		{"update without a resourceVersion", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "PUT", tasks(ns)+"/a", jsonCT, task("a", "n1")))
		}},
		{"update of a missing object", func(t *testing.T, tg *target, ns string) obs {
			body := strings.Replace(task("nope", ""), `"name":"nope"`, `"name":"nope","resourceVersion":"5"`, 1)
			return status(tg.do(t, "PUT", tasks(ns)+"/nope", jsonCT, body))
		}},
		{"update with a name differing from the path", func(t *testing.T, tg *target, ns string) obs {
			body := strings.Replace(task("b", ""), `"name":"b"`, `"name":"b","resourceVersion":"`+tg.vars["rv.a"]+`"`, 1)
			return status(tg.do(t, "PUT", tasks(ns)+"/a", jsonCT, body))
		}},
		{"update of spec bumps generation and resourceVersion", func(t *testing.T, tg *target, ns string) obs {
			body := strings.Replace(task("a", "n2", `"app":"x"`), `"name":"a"`, `"name":"a","resourceVersion":"`+tg.vars["rv.a"]+`"`, 1)
			r := tg.do(t, "PUT", tasks(ns)+"/a", jsonCT, body)
			old, _ := strconv.ParseInt(tg.vars["rv.a"], 10, 64)
			o := object(r)
			o["resourceVersion grew"] = rvOf(r) > old
			tg.vars["rv.a"] = str(r.obj, "metadata.resourceVersion")
			return o
		}},
		{"update that changes nothing keeps the resourceVersion", func(t *testing.T, tg *target, ns string) obs {
			cur := tg.do(t, "GET", tasks(ns)+"/a", "", "")
			r := tg.do(t, "PUT", tasks(ns)+"/a", jsonCT, string(cur.body))
			o := object(r)
			o["same resourceVersion"] = rvOf(r) == rvOf(cur)
			return o
		}},
		{"update of the main resource ignores .status", func(t *testing.T, tg *target, ns string) obs {
			cur := tg.do(t, "GET", tasks(ns)+"/a", "", "")
			body := strings.Replace(string(cur.body), `"spec":`, `"status":{"phase":"Running"},"spec":`, 1)
			r := tg.do(t, "PUT", tasks(ns)+"/a", jsonCT, body)
			o := object(r)
			o["status.phase"] = str(r.obj, "status.phase")
			return o
		}},
		{"update of /status keeps generation", func(t *testing.T, tg *target, ns string) obs {
			cur := tg.do(t, "GET", tasks(ns)+"/a", "", "")
			body := strings.Replace(string(cur.body), `"spec":`, `"status":{"phase":"Running"},"spec":`, 1)
			r := tg.do(t, "PUT", tasks(ns)+"/a/status", jsonCT, body)
			o := object(r)
			o["status.phase"] = str(r.obj, "status.phase")
			tg.vars["rv.a"] = str(r.obj, "metadata.resourceVersion")
			return o
		}},
		// ----------------------------------------------------------- patch
		{"merge patch", func(t *testing.T, tg *target, ns string) obs {
			r := tg.do(t, "PATCH", tasks(ns)+"/a", mergeCT, `{"metadata":{"labels":{"tier":"p"}}}`)
			o := object(r)
			o["label"] = str(r.obj, "metadata.labels.tier")
			return o
		}},
		{"JSON patch", func(t *testing.T, tg *target, ns string) obs {
			r := tg.do(t, "PATCH", tasks(ns)+"/a", patchCT, `[{"op":"replace","path":"/spec/image","value":"busybox"}]`)
			o := object(r)
			o["image"] = str(r.obj, "spec.image")
			return o
		}},
		{"JSON patch whose test fails", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "PATCH", tasks(ns)+"/a", patchCT, `[{"op":"test","path":"/spec/image","value":"other"}]`))
		}},
		{"merge patch of a missing object", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "PATCH", tasks(ns)+"/missing", mergeCT, `{"spec":{}}`))
		}},
		{"merge patch making a value invalid", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "PATCH", tasks(ns)+"/a", mergeCT, `{"spec":{"timeoutSeconds":-1}}`))
		}},
		{"strategic merge patch of a custom resource", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "PATCH", tasks(ns)+"/a", "application/strategic-merge-patch+json", `{"spec":{}}`))
		}},
		{"server-side apply creates", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "PATCH", tasks(ns)+"/applied?fieldManager=parity", applyCT,
				"apiVersion: kunos.io/v1\nkind: Task\nmetadata:\n  name: applied\nspec:\n  image: x\n"))
		}},
		// ------------------------------------------------------------ list
		{"list", func(t *testing.T, tg *target, ns string) obs {
			r := tg.do(t, "GET", tasks(ns), "", "")
			o := list(r)
			delete(o, "items") // generated names differ
			o["count"] = len(lookup(r.obj, "items").([]any))
			return o
		}},
		{"list with a label selector", func(t *testing.T, tg *target, ns string) obs {
			return list(tg.do(t, "GET", tasks(ns)+"?labelSelector=app%3Dx", "", ""))
		}},
		{"list with a field selector on spec.nodeName", func(t *testing.T, tg *target, ns string) obs {
			return list(tg.do(t, "GET", tasks(ns)+"?fieldSelector=spec.nodeName%3Dn2", "", ""))
		}},
		{"list with a field selector on status.phase", func(t *testing.T, tg *target, ns string) obs {
			return list(tg.do(t, "GET", tasks(ns)+"?fieldSelector=status.phase%3DRunning", "", ""))
		}},
		{"list with a field selector on metadata.name", func(t *testing.T, tg *target, ns string) obs {
			return list(tg.do(t, "GET", tasks(ns)+"?fieldSelector=metadata.name%3Dst", "", ""))
		}},
		{"list with an unsupported field selector", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "GET", tasks(ns)+"?fieldSelector=spec.image%3Dx", "", ""))
		}},
		{"list with a malformed label selector", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "GET", tasks(ns)+"?labelSelector=%3D%3D%3D", "", ""))
		}},
		{"list across namespaces", func(t *testing.T, tg *target, ns string) obs {
			r := tg.do(t, "GET", "/apis/kunos.io/v1/tasks?labelSelector=app%3Dx&fieldSelector=metadata.namespace%3D"+ns, "", "")
			return list(r)
		}},
		{"list of a cluster-scoped resource", func(t *testing.T, tg *target, ns string) obs {
			r := tg.do(t, "GET", nodes+"?fieldSelector=metadata.name%3Dnone-"+ns, "", "")
			return list(r)
		}},
		{"list with limit: first page", func(t *testing.T, tg *target, ns string) obs {
			r := tg.do(t, "GET", tasks(ns)+"?limit=2&labelSelector=!nolabel", "", "")
			tg.vars["continue"] = str(r.obj, "metadata.continue")
			o := list(r)
			delete(o, "items")
			return o
		}},
		{"list with continue: next page", func(t *testing.T, tg *target, ns string) obs {
			r := tg.do(t, "GET", tasks(ns)+"?limit=2&labelSelector=!nolabel&continue="+tg.vars["continue"], "", "")
			o := list(r)
			delete(o, "items")
			return o
		}},
		{"list with a malformed continue token", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "GET", tasks(ns)+"?limit=2&continue=garbage", "", ""))
		}},
		{"list with resourceVersion=0", func(t *testing.T, tg *target, ns string) obs {
			o := list(tg.do(t, "GET", tasks(ns)+"?resourceVersion=0&labelSelector=app%3Dx", "", ""))
			return o
		}},
		{"list at an exact resourceVersion", func(t *testing.T, tg *target, ns string) obs {
			// The object as it was when created: a snapshot of the past.
			r := tg.do(t, "GET", tasks(ns)+"?resourceVersion="+tg.vars["rv.a"]+"&resourceVersionMatch=Exact&fieldSelector=metadata.name%3Da", "", "")
			return list(r)
		}},
		{"list with resourceVersionMatch but no resourceVersion", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "GET", tasks(ns)+"?resourceVersionMatch=NotOlderThan", "", ""))
		}},
		{"list with an unparsable resourceVersion", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "GET", tasks(ns)+"?resourceVersion=abc", "", ""))
		}},
		{"list at a future resourceVersion", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "GET", tasks(ns)+"?resourceVersion=999999999&resourceVersionMatch=NotOlderThan", "", ""))
		}},
		// ----------------------------------------------------------- watch
		{"watch from a resourceVersion: the changes after it, in order", func(t *testing.T, tg *target, ns string) obs {
			from := tg.do(t, "POST", tasks(ns), jsonCT, task("w1", "", `"w":"1"`))
			tg.do(t, "PATCH", tasks(ns)+"/w1", mergeCT, `{"spec":{"image":"i"}}`)
			tg.do(t, "POST", tasks(ns), jsonCT, task("w2", "", `"w":"1"`))
			tg.do(t, "DELETE", tasks(ns)+"/w1", "", "")
			code, evs := tg.watch(t, tasks(ns), "labelSelector=w&resourceVersion="+str(from.obj, "metadata.resourceVersion"), 3, 10*time.Second)
			return obs{"code": code, "events": evs}
		}},
		{"watch from resourceVersion 0: the current state as ADDED", func(t *testing.T, tg *target, ns string) obs {
			code, evs := tg.watch(t, tasks(ns), "labelSelector=w&resourceVersion=0", 1, 10*time.Second)
			return obs{"code": code, "events": evs}
		}},
		{"watch-list: ADDED, then the initial-events-end BOOKMARK", func(t *testing.T, tg *target, ns string) obs {
			code, evs := tg.watch(t, tasks(ns), "labelSelector=w&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true", 2, 10*time.Second)
			return obs{"code": code, "events": evs}
		}},
		{"watch-list without allowWatchBookmarks", func(t *testing.T, tg *target, ns string) obs {
			code, evs := tg.watch(t, tasks(ns), "sendInitialEvents=true&resourceVersionMatch=NotOlderThan", 1, 10*time.Second)
			return obs{"code": code, "events": evs}
		}},
		{"watch with a field selector on spec.nodeName", func(t *testing.T, tg *target, ns string) obs {
			from := tg.do(t, "POST", tasks(ns), jsonCT, task("f1", "n9"))
			tg.do(t, "POST", tasks(ns), jsonCT, task("f2", "n8"))
			tg.do(t, "POST", tasks(ns), jsonCT, task("f3", "n9"))
			code, evs := tg.watch(t, tasks(ns), "fieldSelector=spec.nodeName%3Dn9&resourceVersion="+str(from.obj, "metadata.resourceVersion"), 1, 10*time.Second)
			return obs{"code": code, "events": evs}
		}},
		{"watch that leaves a field selector's set: DELETED", func(t *testing.T, tg *target, ns string) obs {
			from := tg.do(t, "GET", tasks(ns)+"/f3", "", "")
			tg.do(t, "PATCH", tasks(ns)+"/f3/status", mergeCT, `{"status":{"phase":"Running"}}`)
			code, evs := tg.watch(t, tasks(ns), "fieldSelector=status.phase%21%3DRunning&resourceVersion="+str(from.obj, "metadata.resourceVersion"), 1, 10*time.Second)
			return obs{"code": code, "events": evs}
		}},
		{"watch with timeoutSeconds ends cleanly", func(t *testing.T, tg *target, ns string) obs {
			cur := tg.do(t, "GET", tasks(ns)+"/a", "", "")
			start := time.Now()
			code, evs := tg.watch(t, tasks(ns), "fieldSelector=metadata.name%3Dquiet&timeoutSeconds=1&resourceVersion="+str(cur.obj, "metadata.resourceVersion"), 10, 10*time.Second)
			return obs{"code": code, "events": evs, "ended within 5s": time.Since(start) < 5*time.Second}
		}},
		{"watch from a compacted resourceVersion: ERROR 410 Expired", func(t *testing.T, tg *target, ns string) obs {
			if tg.compact != nil {
				tg.compact()
			}
			code, evs := tg.watch(t, tasks(ns), "resourceVersion=2", 1, 10*time.Second)
			return obs{"code": code, "events": evs}
		}},
		{"watch with an unparsable resourceVersion", func(t *testing.T, tg *target, ns string) obs {
			code, evs := tg.watch(t, tasks(ns), "resourceVersion=abc", 1, 10*time.Second)
			return obs{"code": code, "events": evs}
		}},
		{"watch of a single object by name", func(t *testing.T, tg *target, ns string) obs {
			code, evs := tg.watch(t, tasks(ns), "fieldSelector=metadata.name%3Da&resourceVersion=0", 1, 10*time.Second)
			return obs{"code": code, "events": evs}
		}},
		// ---------------------------------------------------------- delete
		{"delete", func(t *testing.T, tg *target, ns string) obs {
			r := tg.do(t, "DELETE", tasks(ns)+"/st", "", "")
			o := status(r)
			o["details.name"] = str(r.obj, "details.name")
			o["details.kind"] = str(r.obj, "details.kind")
			return o
		}},
		{"delete of a missing object", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "DELETE", tasks(ns)+"/st", "", ""))
		}},
		{"delete with a stale precondition", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "DELETE", tasks(ns)+"/a", jsonCT, `{"preconditions":{"resourceVersion":"1"}}`))
		}},
		{"delete with an invalid propagationPolicy", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "DELETE", tasks(ns)+"/a?propagationPolicy=Bogus", "", ""))
		}},
		{"delete of an object with a finalizer: deletionTimestamp, then gone", func(t *testing.T, tg *target, ns string) obs {
			tg.do(t, "POST", tasks(ns), jsonCT, `{"apiVersion":"kunos.io/v1","kind":"Task","metadata":{"name":"fin","finalizers":["kunos.io/hold"]}}`)
			r := tg.do(t, "DELETE", tasks(ns)+"/fin", "", "")
			o := object(r)
			gen := str(r.obj, "metadata.generation")
			tg.do(t, "PATCH", tasks(ns)+"/fin", patchCT, `[{"op":"remove","path":"/metadata/finalizers"}]`)
			o["generation after delete"] = gen
			o["then"] = status(tg.do(t, "GET", tasks(ns)+"/fin", "", ""))["reason"]
			return o
		}},
		{"delete with propagationPolicy=Foreground", func(t *testing.T, tg *target, ns string) obs {
			tg.do(t, "POST", jobs(ns), jsonCT, job("fg", `{"template":{}}`))
			r := tg.do(t, "DELETE", jobs(ns)+"/fg?propagationPolicy=Foreground", "", "")
			o := object(r)
			tg.do(t, "PATCH", jobs(ns)+"/fg", mergeCT, `{"metadata":{"finalizers":null}}`)
			return o
		}},
		{"delete with propagationPolicy=Orphan", func(t *testing.T, tg *target, ns string) obs {
			tg.do(t, "POST", jobs(ns), jsonCT, job("orph", `{"template":{}}`))
			r := tg.do(t, "DELETE", jobs(ns)+"/orph?propagationPolicy=Orphan", "", "")
			o := object(r)
			tg.do(t, "PATCH", jobs(ns)+"/orph", mergeCT, `{"metadata":{"finalizers":null}}`)
			return o
		}},
		// ------------------------------------------- garbage collection
		// These rows need the garbage collector and the namespace
		// controller on both sides: kube-controller-manager beside
		// kube-apiserver, controlplane beside apiserver-stub.
		{"cascade Background: the dependents are collected", func(t *testing.T, tg *target, ns string) obs {
			owner(t, tg, ns, "bg", "")
			r := tg.do(t, "DELETE", jobs(ns)+"/bg?propagationPolicy=Background", "", "")
			o := obs{"delete": status(r)["code"]}
			o["job then"] = status(tg.do(t, "GET", jobs(ns)+"/bg", "", ""))["reason"]
			o["tasks left"] = eventually(t, func() []string { return dependents(t, tg, ns, "bg") })
			return o
		}},
		{"cascade Foreground: the owner waits for a held dependent", func(t *testing.T, tg *target, ns string) obs {
			owner(t, tg, ns, "fgw", `"kunos.io/hold"`)
			r := tg.do(t, "DELETE", jobs(ns)+"/fgw?propagationPolicy=Foreground", "", "")
			o := obs{"delete": object(r)}
			// The collector deletes the dependents; the held one stays,
			// with its deletionTimestamp, and the owner waits for it.
			held := poll(t, func() bool {
				return str(tg.do(t, "GET", tasks(ns)+"/fgw-1", "", "").obj, "metadata.deletionTimestamp") != ""
			})
			o["held dependent deleting"] = held
			o["other dependent"] = poll(t, func() bool { return tg.do(t, "GET", tasks(ns)+"/fgw-2", "", "").code == 404 })
			time.Sleep(time.Second)
			o["owner while held"] = object(tg.do(t, "GET", jobs(ns)+"/fgw", "", ""))
			tg.do(t, "PATCH", tasks(ns)+"/fgw-1", mergeCT, `{"metadata":{"finalizers":null}}`)
			o["owner gone after"] = poll(t, func() bool { return tg.do(t, "GET", jobs(ns)+"/fgw", "", "").code == 404 })
			return o
		}},
		{"cascade Orphan: the dependents stay without their ownerReference", func(t *testing.T, tg *target, ns string) obs {
			owner(t, tg, ns, "orw", "")
			r := tg.do(t, "DELETE", jobs(ns)+"/orw?propagationPolicy=Orphan", "", "")
			o := obs{"delete": object(r)}
			o["owner gone"] = poll(t, func() bool { return tg.do(t, "GET", jobs(ns)+"/orw", "", "").code == 404 })
			var left []string
			for _, n := range []string{"orw-1", "orw-2"} {
				g := tg.do(t, "GET", tasks(ns)+"/"+n, "", "")
				refs, _ := lookup(g.obj, "metadata.ownerReferences").([]any)
				left = append(left, fmt.Sprintf("%s %d %d ownerReferences", n, g.code, len(refs)))
			}
			o["dependents"] = left
			return o
		}},
		{"namespace deletion: Terminating, emptied, then gone", func(t *testing.T, tg *target, ns string) obs {
			del := ns + "-del"
			tg.do(t, "POST", "/api/v1/namespaces", jsonCT, `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"`+del+`"}}`)
			// A held Task keeps the namespace Terminating until the row
			// lets it go, however fast the namespace controller is.
			tg.do(t, "POST", tasks(del), jsonCT, `{"apiVersion":"kunos.io/v1","kind":"Task","metadata":{"name":"in-1","finalizers":["kunos.io/hold"]}}`)
			tg.do(t, "POST", jobs(del), jsonCT, job("in-2", `{"template":{}}`))
			r := tg.do(t, "DELETE", "/api/v1/namespaces/"+del, "", "")
			o := object(r)
			o["phase"] = str(r.obj, "status.phase")
			o["spec.finalizers"] = lookup(r.obj, "spec.finalizers")
			o["create while terminating"] = status(tg.do(t, "POST", tasks(del), jsonCT, task("late", "")))["reason"]
			o["contents deleted"] = poll(t, func() bool {
				return str(tg.do(t, "GET", tasks(del)+"/in-1", "", "").obj, "metadata.deletionTimestamp") != "" &&
					tg.do(t, "GET", jobs(del)+"/in-2", "", "").code == 404
			})
			o["still Terminating"] = str(tg.do(t, "GET", "/api/v1/namespaces/"+del, "", "").obj, "status.phase")
			tg.do(t, "PATCH", tasks(del)+"/in-1", mergeCT, `{"metadata":{"finalizers":null}}`)
			o["namespace gone"] = poll(t, func() bool { return tg.do(t, "GET", "/api/v1/namespaces/"+del, "", "").code == 404 })
			o["tasks then"] = list(tg.do(t, "GET", tasks(del), "", ""))["items"]
			return o
		}},
		{"delete of a collection", func(t *testing.T, tg *target, ns string) obs {
			r := tg.do(t, "DELETE", tasks(ns)+"?labelSelector=w", "", "")
			o := list(r)
			after := list(tg.do(t, "GET", tasks(ns)+"?labelSelector=w", "", ""))
			o["left"] = after["items"]
			return o
		}},
		// ----------------------------------------------- methods, discovery
		{"PUT on a collection", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "PUT", tasks(ns), jsonCT, task("x", "")))
		}},
		{"POST on an object", func(t *testing.T, tg *target, ns string) obs {
			return status(tg.do(t, "POST", tasks(ns)+"/a", jsonCT, task("a", "")))
		}},
		{"discovery: resources of kunos.io/v1", func(t *testing.T, tg *target, ns string) obs {
			r := tg.do(t, "GET", "/apis/kunos.io/v1", "", "")
			var res []string
			for _, x := range lookup(r.obj, "resources").([]any) {
				m := x.(map[string]any)
				res = append(res, fmt.Sprintf("%s %s namespaced=%v", str(m, "name"), str(m, "kind"), m["namespaced"]))
			}
			sort.Strings(res) // kube-apiserver sorts them; clients do not depend on the order
			return obs{"code": r.code, "kind": str(r.obj, "kind"), "resources": res}
		}},
		{"discovery: short names", func(t *testing.T, tg *target, ns string) obs {
			r := tg.do(t, "GET", "/apis/kunos.io/v1", "", "")
			short := map[string]any{}
			for _, x := range lookup(r.obj, "resources").([]any) {
				m := x.(map[string]any)
				short[str(m, "name")] = m["shortNames"]
			}
			return obs{"shortNames": short}
		}},
		// --------------------------------------------------------- kubectl
		{"kubectl explain tasks.spec.nodeName", func(t *testing.T, tg *target, ns string) obs {
			return tg.kubectlObs(t, ns, "", "explain", "tasks.spec.nodeName")
		}},
		{"kubectl explain jobs.spec --api-version kunos.io/v1", func(t *testing.T, tg *target, ns string) obs {
			return tg.kubectlObs(t, ns, "", "explain", "jobs.spec", "--api-version", "kunos.io/v1")
		}},
		{"kubectl explain tasks (OpenAPI v2)", func(t *testing.T, tg *target, ns string) obs {
			return tg.kubectlObs(t, ns, "", "explain", "tasks", "--output", "plaintext-openapiv2")
		}},
		{"kubectl create -f", func(t *testing.T, tg *target, ns string) obs {
			return tg.kubectlObs(t, ns, "apiVersion: kunos.io/v1\nkind: Task\nmetadata:\n  name: k1\n  labels: {via: kubectl}\nspec:\n  nodeName: n5\n", "create", "-n", ns, "-f", "-")
		}},
		{"kubectl create -f with an invalid value", func(t *testing.T, tg *target, ns string) obs {
			return tg.kubectlObs(t, ns, "apiVersion: kunos.io/v1\nkind: Job\nmetadata:\n  name: kbad\nspec:\n  completions: -2\n  template: {}\n", "create", "-n", ns, "-f", "-")
		}},
		{"kubectl get -o name with a field selector", func(t *testing.T, tg *target, ns string) obs {
			return tg.kubectlObs(t, ns, "", "get", "tasks", "-n", ns, "--field-selector", "spec.nodeName=n5", "-o", "name")
		}},
		{"kubectl label", func(t *testing.T, tg *target, ns string) obs {
			return tg.kubectlObs(t, ns, "", "label", "tasks", "k1", "-n", ns, "tier=kubectl")
		}},
		{"kubectl get -o jsonpath", func(t *testing.T, tg *target, ns string) obs {
			return tg.kubectlObs(t, ns, "", "get", "task", "k1", "-n", ns, "-o", "jsonpath={.metadata.labels.tier} {.spec.nodeName} {.metadata.generation}")
		}},
		{"kubectl patch --subresource=status", func(t *testing.T, tg *target, ns string) obs {
			return tg.kubectlObs(t, ns, "", "patch", "task", "k1", "-n", ns, "--subresource=status", "--type=merge", "-p", `{"status":{"phase":"Succeeded"}}`)
		}},
		{"kubectl apply --server-side", func(t *testing.T, tg *target, ns string) obs {
			return tg.kubectlObs(t, ns, "apiVersion: kunos.io/v1\nkind: Task\nmetadata:\n  name: ssa\nspec:\n  image: x\n", "apply", "--server-side", "-n", ns, "-f", "-")
		}},
		{"kubectl get of a missing object", func(t *testing.T, tg *target, ns string) obs {
			return tg.kubectlObs(t, ns, "", "get", "task", "missing", "-n", ns)
		}},
		{"kubectl delete", func(t *testing.T, tg *target, ns string) obs {
			return tg.kubectlObs(t, ns, "", "delete", "task", "k1", "-n", ns)
		}},
		{"kubectl api-resources --api-group kunos.io -o name", func(t *testing.T, tg *target, ns string) obs {
			return tg.kubectlObs(t, ns, "", "api-resources", "--api-group", "kunos.io", "-o", "name")
		}},
	}
}

// owner creates Job name and two Tasks name-1 and name-2 that it owns
// (controller, blockOwnerDeletion); the first carries finalizer, if any.
// It returns the Job's uid.
func owner(t *testing.T, tg *target, ns, name, finalizer string) string {
	t.Helper()
	r := tg.do(t, "POST", jobs(ns), jsonCT, job(name, `{"template":{}}`))
	uid := str(r.obj, "metadata.uid")
	if r.code != 201 || uid == "" {
		t.Fatalf("%s: create job %s: %d %s", tg.name, name, r.code, r.body)
	}
	ref := `"ownerReferences":[{"apiVersion":"kunos.io/v1","kind":"Job","name":"` + name + `","uid":"` + uid + `","controller":true,"blockOwnerDeletion":true}]`
	for i, n := range []string{name + "-1", name + "-2"} {
		fin := ""
		if i == 0 && finalizer != "" {
			fin = `,"finalizers":[` + finalizer + `]`
		}
		body := `{"apiVersion":"kunos.io/v1","kind":"Task","metadata":{"name":"` + n + `","labels":{"owner":"` + name + `"},` + ref + fin + `},"spec":{}}`
		if r := tg.do(t, "POST", tasks(ns), jsonCT, body); r.code != 201 {
			t.Fatalf("%s: create task %s: %d %s", tg.name, n, r.code, r.body)
		}
	}
	return uid
}

// dependents lists the names of the Tasks owner created.
func dependents(t *testing.T, tg *target, ns, name string) []string {
	items, _ := list(tg.do(t, "GET", tasks(ns)+"?labelSelector=owner%3D"+name, "", ""))["items"].([]string)
	return items
}

// eventually polls f until it returns nothing (for up to a minute) and
// returns its last answer.
func eventually(t *testing.T, f func() []string) []string {
	var last []string
	poll(t, func() bool { last = f(); return len(last) == 0 })
	return last
}

// poll reports whether cond became true within a minute (collectors and
// namespace controllers act asynchronously, on both servers).
func poll(t *testing.T, cond func() bool) bool {
	deadline := time.Now().Add(time.Minute)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}
