package server_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The hostile-input table: malformed and abusive requests against a real
// server over real sockets. Each one gets the Status kube-apiserver would
// answer (code and reason; the message where it matters) or, for what
// net/http refuses before any handler runs (as it does in kube-apiserver),
// net/http's own answer or a close. After each, the server still answers a
// GET, and a refused request changed nothing stored: the revision and the
// lists of every resource are the same bytes.

// Timeouts of the server under attack: short, so that the cases that wait
// for them stay short.
const (
	hostileRequestTimeout    = 6 * time.Second // a 20000-term selector under -race on 2 loaded cores took over 3s once
	hostileBodyReadTimeout   = 500 * time.Millisecond
	hostileWatchWriteTimeout = time.Second
	hostileMaxBody           = 1 << 20
)

// hostileWant is what a case must get back.
type hostileWant struct {
	code   int                 // HTTP code (0 with plain: any net/http refusal or a close)
	reason metav1.StatusReason // for codes >= 400 the answer must be a Status with this reason
	msg    string              // a substring of the Status message
	plain  bool                // net/http's own answer, before any handler: no Status
	closed bool                // the server must close the connection after answering
}

type hostileCase struct {
	name   string
	method string
	path   string
	hdr    []string // header name, value pairs
	body   string
	// raw is sent as is over a new TCP connection ("{host}" is replaced);
	// then, if trickle is set, trickle is sent every 50ms until the server
	// answers; if halfClose, the client closes its side for writing.
	raw       string
	trickle   string
	halfClose bool
	// run replaces the exchange with a scenario of its own.
	run    func(t *testing.T, h *hostile)
	want   hostileWant
	writes bool // the request may change what is stored
	check  func(t *testing.T, r resp)
}

// hostile is the server under attack.
type hostile struct {
	srv    *stubtest.Server
	host   string
	client *http.Client
	keepRV int64
	cuts   float64 // watches the server cut for not reading, so far
}

func TestHostileInput(t *testing.T) {
	srv := stubtest.Start(t,
		stubtest.WithMaxBodyBytes(hostileMaxBody),
		stubtest.WithRequestTimeout(hostileRequestTimeout),
		stubtest.WithBodyReadTimeout(hostileBodyReadTimeout),
		stubtest.WithWatchWriteTimeout(hostileWatchWriteTimeout),
		stubtest.WithHistory(100000),
	)
	h := &hostile{
		srv:    srv,
		host:   strings.TrimPrefix(srv.URL, "http://"),
		client: &http.Client{Timeout: 15 * time.Second},
	}
	mustCreate(t, srv, "victim")
	h.keepRV = mustCreate(t, srv, "keep") // 2: resourceVersion 1 is stale for it
	wantCode(t, post(t, srv, nodes, `{"metadata":{"name":"n1"},"spec":{"capacity":2}}`), 201)
	wantCode(t, post(t, srv, jobsNS, `{"metadata":{"name":"j1"},"spec":{"template":{}}}`), 201)

	cases := hostileCases(h)
	if len(cases) < 100 {
		t.Fatalf("the table has %d cases, want at least 100", len(cases))
	}
	names := map[string]bool{}
	for _, c := range cases {
		if names[c.name] {
			t.Fatalf("duplicate case %q", c.name)
		}
		names[c.name] = true
	}
	failed := 0
	for _, c := range cases {
		ok := t.Run(c.name, func(t *testing.T) {
			before := h.snapshot(t)
			// Checked even when the case fails, with Errorf: a failure
			// runs the deferred checks during runtime.Goexit.
			defer func() {
				if !h.isResponsive(t) {
					t.Errorf("server not responsive after the case")
				}
				if !c.writes {
					if after := h.snapshot(t); !after.equal(before) {
						t.Errorf("a refused request changed the store: revision %d -> %d", before.rev, after.rev)
					}
				}
				h.restoreFixtures(t)
			}()
			switch {
			case c.run != nil:
				c.run(t, h)
			case c.raw != "":
				h.checkAnswer(t, c, h.rawExchange(t, c))
			default:
				h.checkAnswer(t, c, h.exchange(t, c))
			}
		})
		if !ok {
			failed++
		}
	}
	t.Logf("hostile input: %d cases, %d handled, %d failed", len(cases), len(cases)-failed, failed)
}

// storeSnapshot is what is stored: the revision and every list.
type storeSnapshot struct {
	rev   int64
	lists []string
}

func (a storeSnapshot) equal(b storeSnapshot) bool {
	if a.rev != b.rev || len(a.lists) != len(b.lists) {
		return false
	}
	for i := range a.lists {
		if a.lists[i] != b.lists[i] {
			return false
		}
	}
	return true
}

func (h *hostile) snapshot(t *testing.T) storeSnapshot {
	t.Helper()
	s := storeSnapshot{rev: h.srv.Store().CurrentRevision()}
	for _, p := range []string{tasksAll, nodes, "/apis/kunos.io/v1/jobs"} {
		r := get(t, h.srv, p)
		if r.code != 200 {
			t.Fatalf("list %s: %d %s", p, r.code, r.body)
		}
		s.lists = append(s.lists, string(r.body))
	}
	return s
}

// restoreFixtures recreates the objects the cases aim at, so that one
// wrongly accepted delete does not change the outcome of the next cases.
func (h *hostile) restoreFixtures(t *testing.T) {
	for _, name := range []string{"victim", "keep"} {
		if get(t, h.srv, tasksNS+"/"+name).code == http.StatusNotFound {
			mustCreate(t, h.srv, name)
		}
	}
}

// isResponsive reports whether the server still answers a GET, on a new
// connection, within 5s.
func (h *hostile) isResponsive(t *testing.T) bool {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := c.Get(h.srv.URL + tasksNS + "/keep")
	if err != nil {
		t.Logf("GET keep: %v", err)
		return false
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	if res.StatusCode != 200 {
		t.Logf("GET keep answered %d", res.StatusCode)
		return false
	}
	return true
}

// answer is what came back for one case.
type answer struct {
	resp
	closed  bool // the server closed the connection (after its answer, if any)
	noReply bool // the connection closed without any answer
	head    bool // the answer to a HEAD: no body
}

func (h *hostile) exchange(t *testing.T, c hostileCase) answer {
	t.Helper()
	req, err := http.NewRequest(c.method, h.srv.URL+c.path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	if c.body == "" {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	for i := 0; i+1 < len(c.hdr); i += 2 {
		req.Header.Set(c.hdr[i], c.hdr[i+1])
	}
	res, err := h.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	return answer{resp: resp{code: res.StatusCode, header: res.Header, body: b}, closed: res.Close}
}

// rawExchange sends c.raw over a new connection and reads one answer.
func (h *hostile) rawExchange(t *testing.T, c hostileCase) answer {
	t.Helper()
	conn, err := net.Dial("tcp", h.host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, strings.ReplaceAll(c.raw, "{host}", h.host)); err != nil {
		t.Fatalf("write: %v", err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	if c.trickle != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := io.WriteString(conn, c.trickle); err != nil {
						return
					}
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	if c.halfClose {
		_ = conn.(*net.TCPConn).CloseWrite()
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	var req *http.Request
	if strings.HasPrefix(c.raw, "HEAD ") {
		req = &http.Request{Method: http.MethodHead}
	}
	res, err := http.ReadResponse(br, req)
	if err != nil {
		if isTimeout(err) {
			t.Fatalf("no answer within 10s: %v", err)
		}
		return answer{closed: true, noReply: true}
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil && isTimeout(err) {
		t.Fatalf("answer body did not end within 10s: %v", err)
	}
	a := answer{resp: resp{code: res.StatusCode, header: res.Header, body: b}, head: req != nil}
	if c.want.closed {
		// Closed: the next read ends (EOF or reset) rather than timing out.
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = br.ReadByte()
		a.closed = err != nil && !isTimeout(err)
	}
	return a
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (h *hostile) checkAnswer(t *testing.T, c hostileCase, a answer) {
	t.Helper()
	w := c.want
	if w.plain {
		if a.noReply {
			if w.code != 0 {
				t.Fatalf("connection closed without an answer, want net/http's %d", w.code)
			}
			return
		}
		if w.code != 0 && a.code != w.code {
			t.Fatalf("code %d, want net/http's %d: %s", a.code, w.code, a.body)
		}
		if w.code == 0 && a.code < 400 {
			t.Fatalf("code %d, want a refusal or a close: %s", a.code, a.body)
		}
	} else {
		if a.noReply {
			t.Fatalf("connection closed without an answer, want %d", w.code)
		}
		if w.code >= 400 && a.head {
			// No body: the code and the media type of the Status.
			if a.code != w.code || !strings.HasPrefix(a.header.Get("Content-Type"), "application/json") {
				t.Fatalf("HEAD answered %d %q, want %d application/json", a.code, a.header.Get("Content-Type"), w.code)
			}
		} else if w.code >= 400 {
			st := wantStatus(t, a.resp, w.code, w.reason)
			if w.msg != "" && !strings.Contains(st.Message, w.msg) {
				t.Fatalf("message %q does not contain %q", st.Message, w.msg)
			}
		} else if a.code != w.code {
			t.Fatalf("code %d, want %d: %.300s", a.code, w.code, a.body)
		}
	}
	if w.closed && !a.closed {
		t.Fatalf("the server kept the connection open")
	}
	if c.check != nil {
		c.check(t, a.resp)
	}
}

// Request builders.

func bad(name, method, path, ct, body string, code int, reason metav1.StatusReason, msg ...string) hostileCase {
	c := hostileCase{name: name, method: method, path: path, body: body, want: hostileWant{code: code, reason: reason}}
	if ct != "" {
		c.hdr = []string{"Content-Type", ct}
	}
	if len(msg) > 0 {
		c.want.msg = msg[0]
	}
	return c
}

func withHeaders(c hostileCase, kv ...string) hostileCase {
	c.hdr = append(c.hdr, kv...)
	return c
}

func rawCase(name, raw string, want hostileWant) hostileCase {
	return hostileCase{name: name, raw: raw, want: want}
}

func scenario(name string, writes bool, run func(t *testing.T, h *hostile)) hostileCase {
	return hostileCase{name: name, run: run, writes: writes}
}

func nested(open, close string, depth int, inner string) string {
	return strings.Repeat(open, depth) + inner + strings.Repeat(close, depth)
}

func gzipped(s string) string {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte(s))
	_ = zw.Close()
	return b.String()
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

const (
	jsonCT  = "application/json"
	yamlCT  = "application/yaml"
	mergeCT = "application/merge-patch+json"
	jpCT    = "application/json-patch+json"
)

var (
	br400  = metav1.StatusReasonBadRequest
	inv422 = metav1.StatusReasonInvalid
)

func hostileCases(h *hostile) []hostileCase {
	keep := tasksNS + "/keep"
	victim := tasksNS + "/victim"
	rv := strconv.FormatInt(h.keepRV, 10)
	okTask := `{"metadata":{"name":"x"},"spec":{"image":"i"}}`
	bigImage := strings.Repeat("x", hostileMaxBody+1000)
	var cases []hostileCase
	add := func(cs ...hostileCase) { cases = append(cases, cs...) }

	// Bodies.
	add(
		bad("body: invalid JSON", "POST", tasksNS, jsonCT, `{"metadata":`, 400, br400),
		bad("body: JSON array", "POST", tasksNS, jsonCT, `[]`, 400, br400),
		bad("body: JSON null", "POST", tasksNS, jsonCT, `null`, 400, br400),
		bad("body: JSON string", "POST", tasksNS, jsonCT, `"task"`, 400, br400),
		bad("body: JSON number", "POST", tasksNS, jsonCT, `42`, 400, br400),
		bad("body: empty", "POST", tasksNS, jsonCT, ``, 400, br400),
		bad("body: only whitespace", "POST", tasksNS, jsonCT, " \n\t ", 400, br400),
		bad("body: byte order mark", "POST", tasksNS, jsonCT, "\xef\xbb\xbf"+okTask, 400, br400),
		bad("body: trailing garbage", "POST", tasksNS, jsonCT, okTask+` trailing`, 400, br400),
		bad("body: two objects", "POST", tasksNS, jsonCT, okTask+okTask, 400, br400),
		bad("body: wrong apiVersion", "POST", tasksNS, jsonCT, `{"apiVersion":"v1","kind":"Task","metadata":{"name":"x"}}`, 400, br400),
		bad("body: unknown version of the group", "POST", tasksNS, jsonCT, `{"apiVersion":"kunos.io/v2","kind":"Task","metadata":{"name":"x"}}`, 400, br400),
		bad("body: wrong kind", "POST", tasksNS, jsonCT, `{"apiVersion":"kunos.io/v1","kind":"Job","metadata":{"name":"x"}}`, 422, inv422, "kind: Invalid value"),
		bad("body: kind of another group", "POST", tasksNS, jsonCT, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"}}`, 400, br400),
		bad("body: kind is a number", "POST", tasksNS, jsonCT, `{"kind":5,"metadata":{"name":"x"}}`, 400, br400),
		bad("body: apiVersion is an object", "POST", tasksNS, jsonCT, `{"apiVersion":{},"metadata":{"name":"x"}}`, 400, br400),
		bad("body: metadata is an array", "POST", tasksNS, jsonCT, `{"metadata":[]}`, 400, br400),
		bad("body: labels is a list", "POST", tasksNS, jsonCT, `{"metadata":{"name":"x","labels":["a"]}}`, 400, br400),
		bad("body: spec.command is a string", "POST", tasksNS, jsonCT, `{"metadata":{"name":"x"},"spec":{"command":"ls"}}`, 422, inv422, "spec.command in body must be of type array"),
		bad("body: int64 overflow", "POST", tasksNS, jsonCT, `{"metadata":{"name":"x"},"spec":{"timeoutSeconds":1e30}}`, 422, inv422, "spec.timeoutSeconds in body must be of type int64"),
		bad("body: float for an integer", "POST", tasksNS, jsonCT, `{"metadata":{"name":"x"},"spec":{"timeoutSeconds":1.5}}`, 422, inv422, "spec.timeoutSeconds in body must be of type int64"),
		bad("body: int32 overflow", "POST", nodes, jsonCT, `{"metadata":{"name":"x"},"spec":{"capacity":3000000000}}`, 422, inv422, "must be of type integer with format int32 in spec.capacity"),
		bad("body: arrays nested 100000 deep", "POST", tasksNS, jsonCT, `{"metadata":{"name":"x"},"spec":{"x":`+nested("[", "]", 100000, "")+`}}`, 400, br400),
		bad("body: objects nested 5000 deep, strict", "POST", tasksNS+"?fieldValidation=Strict", jsonCT, `{"metadata":{"name":"x"},"spec":{"x":`+nested(`{"a":`, "}", 5000, "1")+`}}`, 400, br400),
		bad("body: objects nested in labels", "POST", tasksNS, jsonCT, `{"metadata":{"name":"x","labels":`+nested(`{"a":`, "}", 1000, "1")+`}}`, 400, br400),
		bad("body: duplicate field, strict", "POST", tasksNS+"?fieldValidation=Strict", jsonCT, `{"metadata":{"name":"x","name":"y"}}`, 400, br400),
		bad("body: unknown field, strict", "POST", tasksNS+"?fieldValidation=Strict", jsonCT, `{"metadata":{"name":"x"},"spec":{"nope":1}}`, 400, br400),
		bad("body: invalid UTF-8 in the name", "POST", tasksNS, jsonCT, "{\"metadata\":{\"name\":\"a\xffb\"}}", 422, inv422),
		bad("body: NUL in the name", "POST", tasksNS, jsonCT, `{"metadata":{"name":"a\u0000b"}}`, 422, inv422),
		bad("body: name of 300 characters", "POST", tasksNS, jsonCT, `{"metadata":{"name":"`+strings.Repeat("a", 300)+`"}}`, 422, inv422),
		bad("body: name with a slash", "POST", tasksNS, jsonCT, `{"metadata":{"name":"a/b"}}`, 422, inv422),
		bad("body: name ..", "POST", tasksNS, jsonCT, `{"metadata":{"name":".."}}`, 422, inv422),
		bad("body: no name", "POST", tasksNS, jsonCT, `{"metadata":{}}`, 422, inv422),
		bad("body: invalid generateName", "POST", tasksNS, jsonCT, `{"metadata":{"generateName":"Bad_"}}`, 422, inv422),
		bad("body: invalid label key", "POST", tasksNS, jsonCT, `{"metadata":{"name":"x","labels":{"a b":"c"}}}`, 422, inv422),
		bad("body: label value too long", "POST", tasksNS, jsonCT, `{"metadata":{"name":"x","labels":{"a":"`+strings.Repeat("v", 64)+`"}}}`, 422, inv422),
		bad("body: annotations over 256 KiB", "POST", tasksNS, jsonCT, `{"metadata":{"name":"x","annotations":{"a":"`+strings.Repeat("v", 300<<10)+`"}}}`, 422, inv422),
		bad("body: ownerReference without uid", "POST", tasksNS, jsonCT, `{"metadata":{"name":"x","ownerReferences":[{"apiVersion":"kunos.io/v1","kind":"Job","name":"j"}]}}`, 422, inv422),
		bad("body: invalid finalizer", "POST", tasksNS, jsonCT, `{"metadata":{"name":"x","finalizers":["bad finalizer"]}}`, 422, inv422),
		bad("body: namespace mismatch", "POST", tasksNS, jsonCT, `{"metadata":{"name":"x","namespace":"other"}}`, 400, br400),
		bad("body: invalid namespace in the path (looked up first, as NamespaceLifecycle does)", "POST", "/apis/kunos.io/v1/namespaces/Bad_NS/tasks", jsonCT, okTask, 404, metav1.StatusReasonNotFound),
		bad("body: over the size limit", "POST", tasksNS, jsonCT, `{"metadata":{"name":"x"},"spec":{"image":"`+bigImage+`"}}`, 413, metav1.StatusReasonRequestEntityTooLarge),
		rawCase("body: Content-Length over the limit, nothing sent",
			"POST "+tasksNS+" HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n",
			hostileWant{code: 413, reason: metav1.StatusReasonRequestEntityTooLarge, closed: true}),
		rawCase("body: shorter than Content-Length, client waits",
			"POST "+tasksNS+" HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"metadata\":",
			hostileWant{code: 504, reason: metav1.StatusReasonTimeout, closed: true}),
		hostileCase{name: "body: shorter than Content-Length, client half-closes", halfClose: true,
			raw:  "POST " + tasksNS + " HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"metadata\":",
			want: hostileWant{code: 400, reason: br400}},
		hostileCase{name: "body: chunked, trickling forever", trickle: "1\r\n \r\n",
			raw:  "POST " + tasksNS + " HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n",
			want: hostileWant{code: 504, reason: metav1.StatusReasonTimeout, closed: true}},
		hostileCase{name: "body: headers then silence, no body", raw: "PUT " + keep + " HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
			want: hostileWant{code: 504, reason: metav1.StatusReasonTimeout, closed: true}},
		rawCase("body: chunked with a bad chunk size",
			"POST "+tasksNS+" HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
			hostileWant{code: 400, reason: br400, closed: true}),
		rawCase("body: chunked over the size limit",
			"POST "+tasksNS+" HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"+
				fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", hostileMaxBody+10, strings.Repeat("x", hostileMaxBody+10)),
			hostileWant{code: 413, reason: metav1.StatusReasonRequestEntityTooLarge}),
		bad("body: YAML alias bomb", "POST", tasksNS, yamlCT, yamlBomb(), 400, br400),
		bad("body: invalid YAML", "POST", tasksNS, yamlCT, "metadata: [\n  name: x", 400, br400),
		bad("body: YAML list", "POST", tasksNS, yamlCT, "- a\n- b\n", 400, br400),
		bad("body: gzip without decoding", "POST", tasksNS, jsonCT, gzipped(okTask), 400, br400),
		withHeaders(bad("body: gzip with Content-Encoding", "POST", tasksNS, jsonCT, gzipped(okTask), 400, br400), "Content-Encoding", "gzip"),
		// kube-apiserver's storage refuses it: etcd3/store.go Create returns
		// storage.ErrResourceVersionSetOnCreate, which reaches the client as
		// a 500 with no reason.
		bad("body: create with metadata.resourceVersion", "POST", tasksNS, jsonCT, `{"metadata":{"name":"x","resourceVersion":"5"}}`, 500, metav1.StatusReasonUnknown,
			"resourceVersion should not be set on objects to be created"),
		bad("body: create with resourceVersion on a generated name", "POST", tasksNS, jsonCT, `{"metadata":{"generateName":"x-","resourceVersion":"`+rv+`"}}`, 500, metav1.StatusReasonUnknown,
			"resourceVersion should not be set on objects to be created"),
		// kube-apiserver ignores a resourceVersion that does not parse (its
		// versioner cannot read it) and one of "0".
		hostileCase{name: "body: create with an unparsable resourceVersion", method: "POST", path: tasksNS, hdr: []string{"Content-Type", jsonCT},
			body: `{"metadata":{"name":"rv-garbage","resourceVersion":"abc"}}`, want: hostileWant{code: 201}, writes: true,
			check: func(t *testing.T, r resp) {
				if rvOf(t, r.obj(t)) <= h.keepRV {
					t.Fatalf("resourceVersion not set by the server: %s", r.body)
				}
			}},
		hostileCase{name: "body: create with resourceVersion 0", method: "POST", path: tasksNS, hdr: []string{"Content-Type", jsonCT},
			body: `{"metadata":{"name":"rv-zero","resourceVersion":"0"}}`, want: hostileWant{code: 201}, writes: true},
	)

	// Headers and media types.
	manyParams := jsonCT
	for i := 0; i < 1000; i++ {
		manyParams += fmt.Sprintf("; p%d=v", i)
	}
	manyHeaders := []string{}
	for i := 0; i < 10000; i++ {
		manyHeaders = append(manyHeaders, fmt.Sprintf("X-Hdr-%d", i), "v")
	}
	add(
		bad("media: Content-Type text/plain", "POST", tasksNS, "text/plain", okTask, 415, metav1.StatusReasonUnsupportedMediaType),
		bad("media: Content-Type XML", "POST", tasksNS, "application/xml", okTask, 415, metav1.StatusReasonUnsupportedMediaType),
		bad("media: Content-Type unparsable", "POST", tasksNS, ";;;", okTask, 415, metav1.StatusReasonUnsupportedMediaType),
		bad("media: Content-Type protobuf", "POST", tasksNS, "application/vnd.kubernetes.protobuf", okTask, 415, metav1.StatusReasonUnsupportedMediaType),
		bad("media: Content-Type CBOR", "POST", tasksNS, "application/cbor", okTask, 415, metav1.StatusReasonUnsupportedMediaType),
		bad("media: Content-Type with 1000 parameters", "POST", tasksNS, manyParams, `{"metadata":{}}`, 422, inv422),
		bad("media: PUT with Content-Type text/plain", "PUT", keep, "text/plain", okTask, 415, metav1.StatusReasonUnsupportedMediaType),
		bad("media: PATCH as application/json", "PATCH", keep, jsonCT, `{}`, 415, metav1.StatusReasonUnsupportedMediaType),
		bad("media: PATCH without Content-Type", "PATCH", keep, "", `{}`, 415, metav1.StatusReasonUnsupportedMediaType),
		bad("media: strategic merge patch", "PATCH", keep, "application/strategic-merge-patch+json", `{}`, 415, metav1.StatusReasonUnsupportedMediaType),
		withHeaders(bad("media: Accept text/html on a get", "GET", keep, "", "", 406, metav1.StatusReasonNotAcceptable), "Accept", "text/html"),
		withHeaders(bad("media: Accept protobuf on a list", "GET", tasksNS, "", "", 406, metav1.StatusReasonNotAcceptable), "Accept", "application/vnd.kubernetes.protobuf"),
		withHeaders(bad("media: Accept unparsable", "GET", tasksNS, "", "", 406, metav1.StatusReasonNotAcceptable), "Accept", ";;;,,,;"),
		withHeaders(bad("media: Accept Table of another group", "GET", tasksNS, "", "", 406, metav1.StatusReasonNotAcceptable), "Accept", "application/json;as=Table;g=other.io;v=v1"),
		withHeaders(bad("media: Accept PartialObjectMetadataList on a get", "GET", keep, "", "", 406, metav1.StatusReasonNotAcceptable), "Accept", "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"),
		withHeaders(bad("media: Accept text/html on a create", "POST", tasksNS, jsonCT, okTask, 406, metav1.StatusReasonNotAcceptable), "Accept", "text/html"),
		withHeaders(bad("media: Accept text/html on a delete", "DELETE", victim, "", "", 406, metav1.StatusReasonNotAcceptable), "Accept", "text/html"),
		withHeaders(bad("media: Accept of 100 KiB", "GET", tasksNS, "", "", 406, metav1.StatusReasonNotAcceptable), "Accept", strings.Repeat("application/x-nope,", 5000)+"text/plain"),
		hostileCase{name: "media: 10000 headers", method: "GET", path: keep, hdr: manyHeaders, want: hostileWant{code: 200}},
		withHeaders(hostileCase{name: "media: method override header is ignored", method: "GET", path: victim, want: hostileWant{code: 200}}, "X-HTTP-Method-Override", "DELETE"),
		withHeaders(hostileCase{name: "media: absurd Accept-Encoding", method: "GET", path: keep, want: hostileWant{code: 200}}, "Accept-Encoding", "gzip;q=1e999, *;q=-1, br;;;"),
		rawCase("http: a header over 1 MB", "GET "+keep+" HTTP/1.1\r\nHost: {host}\r\nX-Big: "+strings.Repeat("a", 2<<20)+"\r\n\r\n",
			hostileWant{plain: true, code: 431, closed: true}),
		rawCase("http: a URL over 1 MB", "GET "+keep+"?x="+strings.Repeat("a", 2<<20)+" HTTP/1.1\r\nHost: {host}\r\n\r\n",
			hostileWant{plain: true, code: 431, closed: true}),
		rawCase("http: NUL in a header value", "GET "+keep+" HTTP/1.1\r\nHost: {host}\r\nX-A: a\x00b\r\n\r\n", hostileWant{plain: true, code: 400, closed: true}),
		rawCase("http: space in a header name", "GET "+keep+" HTTP/1.1\r\nHost: {host}\r\nBad Header: x\r\n\r\n", hostileWant{plain: true, code: 400, closed: true}),
		rawCase("http: no Host header", "GET "+keep+" HTTP/1.1\r\n\r\n", hostileWant{plain: true, code: 400, closed: true}),
		rawCase("http: two different Content-Lengths", "POST "+tasksNS+" HTTP/1.1\r\nHost: {host}\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
			hostileWant{plain: true, code: 400, closed: true}),
		rawCase("http: unsupported Transfer-Encoding", "POST "+tasksNS+" HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: gzip\r\n\r\n",
			hostileWant{plain: true, code: 501, closed: true}),
		rawCase("http: unknown Expect", "POST "+tasksNS+" HTTP/1.1\r\nHost: {host}\r\nExpect: 200-maybe\r\nContent-Length: 2\r\n\r\n{}",
			hostileWant{plain: true, code: 417, closed: true}),
		rawCase("http: TLS handshake bytes on the plain port", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"+strings.Repeat("\x00", 64)+"\r\n\r\n", hostileWant{plain: true, code: 400, closed: true}),
		rawCase("http: HTTP/2 preface without h2c", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", hostileWant{plain: true, closed: true}),
		rawCase("http: garbage request line", "HELLO\r\n\r\n", hostileWant{plain: true, code: 400, closed: true}),
		rawCase("http: CONNECT to an API path", "CONNECT "+keep+" HTTP/1.1\r\nHost: {host}\r\n\r\n",
			hostileWant{code: 405, reason: metav1.StatusReasonMethodNotAllowed}),
	)

	// Query parameters.
	longSelector := strings.TrimSuffix(strings.Repeat("a=b,", 20000), ",")
	add(
		bad("query: list resourceVersion=abc", "GET", tasksNS+"?resourceVersion=abc", "", "", 400, br400),
		bad("query: list resourceVersion=-1", "GET", tasksNS+"?resourceVersion=-1", "", "", 400, br400),
		bad("query: list resourceVersion overflows", "GET", tasksNS+"?resourceVersion=99999999999999999999", "", "", 400, br400),
		bad("query: list resourceVersion=1e3", "GET", tasksNS+"?resourceVersion=1e3", "", "", 400, br400),
		bad("query: list resourceVersion=NUL", "GET", tasksNS+"?resourceVersion=%00", "", "", 400, br400),
		bad("query: get resourceVersion=abc", "GET", keep+"?resourceVersion=abc", "", "", 400, br400),
		bad("query: list exact future resourceVersion", "GET", tasksNS+"?resourceVersion=999999&resourceVersionMatch=Exact", "", "", 504, metav1.StatusReasonTimeout, "Too large resource version"),
		bad("query: resourceVersionMatch=Bogus", "GET", tasksNS+"?resourceVersion=1&resourceVersionMatch=Bogus", "", "", 422, inv422),
		bad("query: Exact with resourceVersion=0", "GET", tasksNS+"?resourceVersion=0&resourceVersionMatch=Exact", "", "", 422, inv422),
		bad("query: resourceVersionMatch without resourceVersion", "GET", tasksNS+"?resourceVersionMatch=NotOlderThan", "", "", 422, inv422),
		bad("query: limit=abc", "GET", tasksNS+"?limit=abc", "", "", 400, br400),
		bad("query: limit=1e3", "GET", tasksNS+"?limit=1e3", "", "", 400, br400),
		bad("query: limit overflows", "GET", tasksNS+"?limit=99999999999999999999", "", "", 400, br400),
		hostileCase{name: "query: limit=-5 is no limit", method: "GET", path: tasksNS + "?limit=-5", want: hostileWant{code: 200},
			check: func(t *testing.T, r resp) {
				if strings.Contains(string(r.body), `"continue"`) {
					t.Fatalf("paged: %s", r.body)
				}
			}},
		bad("query: continue garbage", "GET", tasksNS+"?continue=%21%21%21", "", "", 400, br400, "invalid continue token"),
		bad("query: continue not JSON", "GET", tasksNS+"?continue="+b64("not json"), "", "", 400, br400, "invalid continue token"),
		bad("query: continue at revision 0", "GET", tasksNS+"?continue="+b64(`{"v":"meta.k8s.io/v1","rv":0,"start":"a"}`), "", "", 400, br400),
		bad("query: continue escaping its prefix", "GET", tasksNS+"?continue="+b64(`{"v":"meta.k8s.io/v1","rv":3,"start":"../../nodes/n1"}`), "", "", 400, br400),
		bad("query: continue with an unknown field", "GET", tasksNS+"?continue="+b64(`{"v":"meta.k8s.io/v1","rv":3,"start":"a","x":1}`), "", "", 400, br400),
		bad("query: continue with resourceVersion", "GET", tasksNS+"?continue="+b64(`{"v":"meta.k8s.io/v1","rv":3,"start":"a"}`)+"&resourceVersion=5", "", "", 400, br400),
		bad("query: continue with resourceVersionMatch", "GET", tasksNS+"?continue="+b64(`{"v":"meta.k8s.io/v1","rv":3,"start":"a"}`)+"&resourceVersionMatch=Exact", "", "", 422, inv422),
		bad("query: labelSelector unterminated", "GET", tasksNS+"?labelSelector=a%20in%20(", "", "", 400, br400),
		bad("query: labelSelector invalid key", "GET", tasksNS+"?labelSelector=a%20b%3Dc", "", "", 400, br400),
		bad("query: labelSelector value too long", "GET", tasksNS+"?labelSelector=a%3D"+strings.Repeat("v", 100), "", "", 400, br400),
		hostileCase{name: "query: labelSelector of 20000 terms", method: "GET", path: tasksNS + "?labelSelector=" + longSelector, want: hostileWant{code: 200}},
		bad("query: fieldSelector unsupported field", "GET", tasksNS+"?fieldSelector=spec.image%3Dx", "", "", 400, br400, "field label not supported"),
		bad("query: fieldSelector without operator", "GET", tasksNS+"?fieldSelector=metadata.name", "", "", 400, br400),
		bad("query: fieldSelector of another kind", "GET", nodes+"?fieldSelector=spec.nodeName%3Dx", "", "", 400, br400),
		bad("query: timeoutSeconds=abc on a list", "GET", tasksNS+"?timeoutSeconds=abc", "", "", 400, br400),
		bad("query: timeoutSeconds=abc on a watch", "GET", tasksNS+"?watch=true&timeoutSeconds=abc", "", "", 400, br400),
		bad("query: sendInitialEvents on a list", "GET", tasksNS+"?sendInitialEvents=true&resourceVersionMatch=NotOlderThan", "", "", 422, inv422),
		bad("query: sendInitialEvents without resourceVersionMatch", "GET", tasksNS+"?watch=true&sendInitialEvents=true", "", "", 422, inv422),
		bad("query: watch with resourceVersionMatch=Exact", "GET", tasksNS+"?watch=true&resourceVersion=1&resourceVersionMatch=Exact", "", "", 422, inv422),
		// kube-apiserver parses booleans with runtime.Convert_Slice_string_To_bool:
		// the first value; "0" and "false" (any case) are false, anything
		// else, the empty string included, is true.
		watchOrList("query: watch=garbage is a watch", "watch=garbage", true),
		watchOrList("query: watch= is a watch", "watch=", true),
		watchOrList("query: watch=yes is a watch", "watch=yes", true),
		watchOrList("query: watch=FALSE is a list", "watch=FALSE", false),
		watchOrList("query: watch=0 is a list", "watch=0", false),
		watchOrList("query: watch=false&watch=true is a list", "watch=false&watch=true", false),
		watchOrList("query: watch=true&watch=false is a watch", "watch=true&watch=false", true),
		hostileCase{name: "query: duplicate resourceVersion, the first counts", method: "GET", path: tasksNS + "?resourceVersion=0&resourceVersion=abc", want: hostileWant{code: 200}},
		hostileCase{name: "query: duplicate limit, the first counts", method: "GET", path: tasksNS + "?limit=1&limit=abc", want: hostileWant{code: 200}},
		hostileCase{name: "query: bad percent-encoding is dropped", method: "GET", path: tasksNS + "?labelSelector=%zz", want: hostileWant{code: 200}},
		hostileCase{name: "query: 500 KiB of parameters", method: "GET", path: tasksNS + "?x=" + strings.Repeat("a", 500<<10), want: hostileWant{code: 200}},
		bad("query: timeout=abc", "GET", keep+"?timeout=abc", "", "", 400, br400, "invalid timeout specified in the request URL"),
		hostileCase{name: "query: timeout=-1s is the default", method: "GET", path: keep + "?timeout=-1s", want: hostileWant{code: 200}},
		hostileCase{name: "query: timeout=1000h is capped", method: "GET", path: keep + "?timeout=1000h", want: hostileWant{code: 200}},
		bad("query: dryRun=Bogus on a create", "POST", tasksNS+"?dryRun=Bogus", jsonCT, okTask, 422, inv422, `dryRun: Unsupported value`),
		bad("query: dryRun= on a create", "POST", tasksNS+"?dryRun=", jsonCT, okTask, 422, inv422),
		bad("query: dryRun=Bogus on an update", "PUT", keep+"?dryRun=Bogus", jsonCT, `{"metadata":{"name":"keep","resourceVersion":"`+rv+`"}}`, 422, inv422),
		bad("query: dryRun=Bogus on a patch", "PATCH", keep+"?dryRun=Bogus", mergeCT, `{"metadata":{"labels":{"a":"b"}}}`, 422, inv422),
		bad("query: dryRun=Bogus on a delete", "DELETE", victim+"?dryRun=Bogus", "", "", 422, inv422),
		bad("query: fieldValidation=Loud", "POST", tasksNS+"?fieldValidation=Loud", jsonCT, okTask, 422, inv422, "fieldValidation: Unsupported value"),
		bad("query: fieldManager of 200 characters", "POST", tasksNS+"?fieldManager="+strings.Repeat("m", 200), jsonCT, okTask, 422, inv422, "fieldManager"),
		bad("query: fieldManager with a control character", "POST", tasksNS+"?fieldManager=a%07b", jsonCT, okTask, 422, inv422, "fieldManager"),
		withHeaders(bad("query: includeObject=Bogus on a Table", "GET", tasksNS+"?includeObject=Bogus", "", "", 400, br400), "Accept", tableAccept),
	)

	// Verbs and semantics.
	add(
		bad("verb: FOO on a collection", "FOO", tasksNS, "", "", 405, metav1.StatusReasonMethodNotAllowed),
		bad("verb: PROPFIND on an object", "PROPFIND", keep, "", "", 405, metav1.StatusReasonMethodNotAllowed),
		bad("verb: TRACE", "TRACE", keep, "", "", 405, metav1.StatusReasonMethodNotAllowed),
		bad("verb: OPTIONS", "OPTIONS", tasksNS, "", "", 405, metav1.StatusReasonMethodNotAllowed),
		bad("verb: lowercase get", "get", keep, "", "", 405, metav1.StatusReasonMethodNotAllowed),
		// As kube-apiserver's CRD handler: PUT and PATCH without a name are
		// 400, POST on an object's path is a create of the body's name.
		bad("verb: PUT on a collection", "PUT", tasksNS, jsonCT, okTask, 400, br400, "name must be provided"),
		bad("verb: PATCH on a collection", "PATCH", tasksNS, mergeCT, `{}`, 400, br400, "name must be provided"),
		bad("verb: POST on an object", "POST", keep, jsonCT, `{"metadata":{"name":"keep"}}`, 409, metav1.StatusReasonAlreadyExists),
		bad("verb: POST to status", "POST", keep+"/status", jsonCT, okTask, 405, metav1.StatusReasonMethodNotAllowed),
		bad("verb: DELETE status", "DELETE", keep+"/status", "", "", 405, metav1.StatusReasonMethodNotAllowed),
		bad("verb: deletecollection across namespaces", "DELETE", tasksAll, "", "", 405, metav1.StatusReasonMethodNotAllowed),
		bad("verb: create across namespaces", "POST", tasksAll, jsonCT, okTask, 405, metav1.StatusReasonMethodNotAllowed),
		bad("verb: unknown resource", "GET", "/apis/kunos.io/v1/namespaces/default/pods", "", "", 404, metav1.StatusReasonNotFound),
		bad("verb: unknown subresource", "PUT", keep+"/scale", jsonCT, `{}`, 404, metav1.StatusReasonNotFound),
		bad("verb: path with ..", "GET", "/apis/kunos.io/v1/namespaces/default/tasks/../nodes", "", "", 404, metav1.StatusReasonNotFound),
		bad("verb: path with an empty segment", "GET", "/apis/kunos.io/v1/namespaces//tasks", "", "", 404, metav1.StatusReasonNotFound),
		bad("verb: unknown API group", "GET", "/apis/other.io/v1/tasks", "", "", 404, metav1.StatusReasonNotFound),
		bad("update: without resourceVersion", "PUT", keep, jsonCT, `{"metadata":{"name":"keep"}}`, 422, inv422, "must be specified for an update"),
		bad("update: resourceVersion=abc", "PUT", keep, jsonCT, `{"metadata":{"name":"keep","resourceVersion":"abc"}}`, 422, inv422),
		bad("update: stale resourceVersion", "PUT", keep, jsonCT, `{"metadata":{"name":"keep","resourceVersion":"1"},"spec":{"image":"new"}}`, 409, metav1.StatusReasonConflict, "the object has been modified"),
		bad("update: future resourceVersion", "PUT", keep, jsonCT, `{"metadata":{"name":"keep","resourceVersion":"99999"},"spec":{"image":"new"}}`, 409, metav1.StatusReasonConflict),
		bad("update: name mismatch", "PUT", keep, jsonCT, `{"metadata":{"name":"other","resourceVersion":"`+rv+`"}}`, 400, br400, "does not match the name on the URL"),
		bad("update: namespace mismatch", "PUT", keep, jsonCT, `{"metadata":{"name":"keep","namespace":"other","resourceVersion":"`+rv+`"}}`, 400, br400),
		bad("update: uid changed", "PUT", keep, jsonCT, `{"metadata":{"name":"keep","uid":"x","resourceVersion":"`+rv+`"}}`, 422, inv422),
		bad("update: missing object", "PUT", tasksNS+"/missing", jsonCT, `{"metadata":{"name":"missing","resourceVersion":"1"}}`, 404, metav1.StatusReasonNotFound),
		bad("update: empty body", "PUT", keep, jsonCT, ``, 400, br400),
		bad("update: status with a name mismatch", "PUT", keep+"/status", jsonCT, `{"metadata":{"name":"other","resourceVersion":"`+rv+`"}}`, 400, br400),
		bad("patch: stale pinned resourceVersion", "PATCH", keep, mergeCT, `{"metadata":{"resourceVersion":"1","labels":{"a":"b"}}}`, 409, metav1.StatusReasonConflict),
		bad("patch: JSON patch not a list", "PATCH", keep, jpCT, `{"op":"add"}`, 400, br400),
		bad("patch: JSON patch unknown op", "PATCH", keep, jpCT, `[{"op":"explode","path":"/spec"}]`, 400, br400),
		bad("patch: JSON patch without value", "PATCH", keep, jpCT, `[{"op":"add","path":"/spec/image"}]`, 400, br400),
		bad("patch: JSON patch of 10001 operations", "PATCH", keep, jpCT, "["+strings.TrimSuffix(strings.Repeat(`{"op":"test","path":"/kind","value":"Task"},`, 10001), ",")+"]", 413, metav1.StatusReasonRequestEntityTooLarge),
		bad("patch: JSON patch copy bomb", "PATCH", keep, jpCT, copyBomb(), 422, inv422),
		bad("patch: JSON patch failed test", "PATCH", keep, jpCT, `[{"op":"test","path":"/spec/image","value":"nope"}]`, 422, inv422),
		bad("patch: JSON patch removing metadata", "PATCH", keep, jpCT, `[{"op":"remove","path":"/metadata"}]`, 400, br400),
		bad("patch: merge patch changing the kind", "PATCH", keep, mergeCT, `{"kind":"Job"}`, 422, inv422, "kind: Invalid value"),
		bad("patch: merge patch changing the name", "PATCH", keep, mergeCT, `{"metadata":{"name":"other"}}`, 400, br400, "does not match the name on the URL"),
		bad("patch: merge patch changing the namespace", "PATCH", keep, mergeCT, `{"metadata":{"namespace":"other"}}`, 400, br400),
		bad("patch: merge patch null", "PATCH", keep, mergeCT, `null`, 400, br400),
		bad("patch: merge patch with a wrong type", "PATCH", keep, mergeCT, `{"spec":{"image":5}}`, 422, inv422, "spec.image in body must be of type string"),
		bad("patch: missing object", "PATCH", tasksNS+"/missing", mergeCT, `{}`, 404, metav1.StatusReasonNotFound),
		bad("patch: over the size limit", "PATCH", keep, mergeCT, `{"spec":{"image":"`+bigImage+`"}}`, 413, metav1.StatusReasonRequestEntityTooLarge),
	)

	// Deletes: every option is validated before anything is deleted
	// (handlers/delete.go: DecodeParameters or the body, then
	// ValidateDeleteOptions), and the object stays.
	add(
		bad("delete: unknown propagationPolicy in the body", "DELETE", victim, jsonCT, `{"propagationPolicy":"Bogus"}`, 422, inv422, "propagationPolicy: Unsupported value"),
		bad("delete: unknown propagationPolicy in the query", "DELETE", victim+"?propagationPolicy=Bogus", "", "", 422, inv422, "propagationPolicy: Unsupported value"),
		bad("delete: malformed gracePeriodSeconds in the query", "DELETE", victim+"?gracePeriodSeconds=abc", "", "", 400, br400),
		bad("delete: malformed gracePeriodSeconds in the body", "DELETE", victim, jsonCT, `{"gracePeriodSeconds":"abc"}`, 400, br400),
		bad("delete: orphanDependents with propagationPolicy", "DELETE", victim, jsonCT, `{"orphanDependents":true,"propagationPolicy":"Orphan"}`, 422, inv422),
		bad("delete: dryRun Some in the body", "DELETE", victim, jsonCT, `{"dryRun":["Some"]}`, 422, inv422),
		bad("delete: dryRun=Some in the query", "DELETE", victim+"?dryRun=Some", "", "", 422, inv422),
		bad("delete: precondition on another uid", "DELETE", victim, jsonCT, `{"preconditions":{"uid":"other"}}`, 409, metav1.StatusReasonConflict, "Precondition failed"),
		bad("delete: precondition on resourceVersion abc", "DELETE", victim, jsonCT, `{"preconditions":{"resourceVersion":"abc"}}`, 409, metav1.StatusReasonConflict),
		bad("delete: precondition of a wrong type", "DELETE", victim, jsonCT, `{"preconditions":{"uid":5}}`, 400, br400),
		bad("delete: body of another kind", "DELETE", victim, jsonCT, `{"apiVersion":"v1","kind":"Pod"}`, 400, br400),
		bad("delete: body not JSON", "DELETE", victim, jsonCT, `garbage`, 400, br400),
		bad("delete: body a JSON list", "DELETE", victim, jsonCT, `[]`, 400, br400),
		bad("delete: body as text/plain", "DELETE", victim, "text/plain", `{}`, 415, metav1.StatusReasonUnsupportedMediaType),
		bad("delete: YAML body with an unknown propagationPolicy", "DELETE", victim, yamlCT, "propagationPolicy: Bogus\n", 422, inv422),
		bad("delete: meta.k8s.io body with an unknown propagationPolicy", "DELETE", victim, jsonCT, `{"apiVersion":"meta.k8s.io/v1","kind":"DeleteOptions","propagationPolicy":"Bogus"}`, 422, inv422),
		bad("delete: body over the size limit", "DELETE", victim, jsonCT, `{"x":"`+bigImage+`"}`, 413, metav1.StatusReasonRequestEntityTooLarge),
		bad("delete: missing object", "DELETE", tasksNS+"/missing", "", "", 404, metav1.StatusReasonNotFound),
		bad("delete: collection with an unknown propagationPolicy", "DELETE", tasksNS+"?propagationPolicy=Bogus", "", "", 422, inv422),
		bad("delete: collection with an unknown propagationPolicy in the body", "DELETE", tasksNS, jsonCT, `{"propagationPolicy":"Bogus"}`, 422, inv422),
		bad("delete: collection with a bad fieldSelector", "DELETE", tasksNS+"?fieldSelector=spec.image%3Dx", "", "", 400, br400),
		bad("delete: collection with a bad resourceVersionMatch", "DELETE", tasksNS+"?resourceVersion=1&resourceVersionMatch=Bogus", "", "", 422, inv422),
	)

	// Watches and WebSockets.
	wsRaw := func(method, extra string) string {
		return method + " " + tasksNS + "?watch=true HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + extra + "\r\n"
	}
	add(
		bad("watch: resourceVersion=abc", "GET", tasksNS+"?watch=true&resourceVersion=abc", "", "", 400, br400),
		bad("watch: future resourceVersion", "GET", tasksNS+"?watch=true&resourceVersion=999999", "", "", 504, metav1.StatusReasonTimeout),
		bad("watch: legacy path with a name", "GET", "/apis/kunos.io/v1/watch/namespaces/default/tasks/keep", "", "", 404, metav1.StatusReasonNotFound),
		rawCase("websocket: no Sec-WebSocket-Key", wsRaw("GET", "Sec-WebSocket-Version: 13\r\n"), hostileWant{code: 400, reason: br400}),
		rawCase("websocket: invalid Sec-WebSocket-Key", wsRaw("GET", "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n"), hostileWant{code: 400, reason: br400}),
		rawCase("websocket: version 8", wsRaw("GET", "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"), hostileWant{code: 400, reason: br400}),
		rawCase("websocket: HEAD upgrade", wsRaw("HEAD", "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"), hostileWant{code: 405, reason: metav1.StatusReasonMethodNotAllowed}),
		hostileCase{name: "websocket: bad resourceVersion", raw: strings.Replace(wsRaw("GET", "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"), "watch=true", "watch=true&resourceVersion=abc", 1),
			want: hostileWant{code: 400, reason: br400}},
		rawCase("websocket: unknown path", strings.Replace(wsRaw("GET", "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"), "/tasks?", "/pods?", 1),
			hostileWant{code: 404, reason: metav1.StatusReasonNotFound}),
		scenario("websocket: subprotocols the server does not speak", false, wsSubprotocols),
		scenario("websocket: a 64 KiB message from the client", false, wsHugeMessage),
		scenario("websocket: garbage instead of frames", false, wsGarbage),
		scenario("websocket: a client that never reads", true, wsNeverReads),
		scenario("watch: a client that never reads", true, chunkedNeverReads),
		scenario("watch: a slow reader gets every event", true, slowReader),
		scenario("watch: 200 watches abandoned by their clients", false, abandonedWatches),
		scenario("watch: a watch behind compaction gets 410 in-band", false, compactedWatch),
	)

	// Connections.
	add(
		scenario("conn: 50 slowloris clients", false, slowloris),
		scenario("conn: 500 idle connections", false, idleFlood),
		scenario("conn: 300 concurrent refused requests", false, concurrentRefused),
		scenario("conn: pipelined bad requests on one connection", false, pipelined),
	)
	return cases
}

// yamlBomb is a billion-laughs YAML document.
func yamlBomb() string {
	var b strings.Builder
	b.WriteString("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n")
	prev := "a"
	for i := 0; i < 8; i++ {
		name := string(rune('b' + i))
		fmt.Fprintf(&b, "%s: &%s [*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s]\n", name, name, prev, prev, prev, prev, prev, prev, prev, prev, prev)
		prev = name
	}
	b.WriteString("metadata:\n  name: bomb\nspec:\n  command: *" + prev + "\n")
	return b.String()
}

// copyBomb doubles the object with each operation.
func copyBomb() string {
	ops := []string{`{"op":"add","path":"/metadata/annotations","value":{"a":"` + strings.Repeat("x", 1000) + `"}}`}
	for i := 0; i < 40; i++ {
		ops = append(ops, `{"op":"copy","from":"/metadata","path":"/spec/x`+strconv.Itoa(i)+`"}`)
		ops = append(ops, `{"op":"copy","from":"/spec","path":"/metadata/labels"}`)
	}
	return "[" + strings.Join(ops, ",") + "]"
}

// watchOrList checks that ?query on a collection is served as a watch
// (a chunked stream of events) or as a list.
func watchOrList(name, query string, watch bool) hostileCase {
	return scenario(name, false, func(t *testing.T, h *hostile) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.srv.URL+tasksNS+"?"+query, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != 200 {
			b, _ := io.ReadAll(res.Body)
			t.Fatalf("code %d: %s", res.StatusCode, b)
		}
		line, err := bufio.NewReader(res.Body).ReadBytes('\n')
		if watch {
			var e event
			if jerr := json.Unmarshal(line, &e); jerr != nil || e.Type != "ADDED" {
				t.Fatalf("want a watch stream, got %v %.200s", err, line)
			}
			return
		}
		if !bytes.Contains(line, []byte(`"kind":"TaskList"`)) {
			t.Fatalf("want a list, got %.200s", line)
		}
	})
}

func wsURL(h *hostile, query string) string {
	return "ws://" + h.host + tasksNS + "?" + query
}

func wsSubprotocols(t *testing.T, h *hostile) {
	d := websocket.Dialer{Subprotocols: []string{"v5.channel.k8s.io", "x y", ""}, HandshakeTimeout: 5 * time.Second}
	conn, res, err := d.Dial(wsURL(h, "watch=true"), nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	if p := res.Header.Get("Sec-WebSocket-Protocol"); p != "" {
		t.Fatalf("server chose subprotocol %q", p)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, msg, err := conn.ReadMessage()
	if err != nil || !bytes.Contains(msg, []byte(`"ADDED"`)) {
		t.Fatalf("first event: %v %s", err, msg)
	}
}

// wsEnds checks that the server ends the WebSocket: reads end with an error
// (close frame or closed socket), not a timeout.
func wsEnds(t *testing.T, conn *websocket.Conn) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			if isTimeout(err) {
				t.Fatalf("the server kept the WebSocket open: %v", err)
			}
			return
		}
	}
}

func wsHugeMessage(t *testing.T, h *hostile) {
	conn, _, err := websocket.DefaultDialer.Dial(wsURL(h, "watch=true&resourceVersion="+strconv.FormatInt(h.srv.Store().CurrentRevision(), 10)), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The server may cut the connection before the message is all sent
	// (its read limit is 4 KiB): a failed write is the expected end too.
	if err := conn.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte("x"), 64<<10)); err == nil {
		wsEnds(t, conn)
	}
	waitWatchers(t, h, 0)
}

func wsGarbage(t *testing.T, h *hostile) {
	conn, _, err := websocket.DefaultDialer.Dial(wsURL(h, "watch=true&resourceVersion="+strconv.FormatInt(h.srv.Store().CurrentRevision(), 10)), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.NetConn().Write(bytes.Repeat([]byte{0xff, 0x00, 0x13, 0x37}, 1000)); err == nil {
		wsEnds(t, conn)
	}
	waitWatchers(t, h, 0)
}

// watchers is the number of open watches the server reports.
func watchers(t *testing.T, h *hostile) float64 {
	t.Helper()
	mfs, err := h.srv.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != "apiserver_registered_watchers" {
			continue
		}
		for _, m := range mf.GetMetric() {
			n += gaugeValue(m)
		}
	}
	return n
}

func gaugeValue(m *dto.Metric) float64 {
	if g := m.GetGauge(); g != nil {
		return g.GetValue()
	}
	return 0
}

func waitWatchers(t *testing.T, h *hostile, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := watchers(t, h)
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v watches still open, want %v", n, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// bigWrites makes about 8 MB of watch events on one object, far more than
// the socket buffers hold, straight through the store: the writers must
// never wait for a watcher that does not read.
func bigWrites(t *testing.T, h *hostile, name string) {
	t.Helper()
	ctx := context.Background()
	key := "/tasks/default/" + name
	task := &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}}
	if _, err := h.srv.Store().Create(ctx, key, task); err != nil {
		t.Fatal(err)
	}
	chunk := strings.Repeat("y", 64<<10)
	for i := 0; i < 16; i++ {
		task.Spec.Command = make([]string, 8)
		for j := range task.Spec.Command {
			task.Spec.Command[j] = strconv.Itoa(i) + chunk
		}
		start := time.Now()
		if _, err := h.srv.Store().Update(ctx, key, 0, task.DeepCopy()); err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("a write waited %v for a watcher that does not read", d)
		}
	}
}

func chunkedNeverReads(t *testing.T, h *hostile) {
	conn, err := net.Dial("tcp", h.host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.(*net.TCPConn).SetReadBuffer(4096)
	rv := strconv.FormatInt(h.srv.Store().CurrentRevision(), 10)
	fmt.Fprintf(conn, "GET %s?watch=true&resourceVersion=%s HTTP/1.1\r\nHost: %s\r\n\r\n", tasksNS, rv, h.host)
	waitWatchers(t, h, 1)
	bigWrites(t, h, "flood-http")
	// The server gives up on the client after the watch write timeout: its
	// handler ends and its socket is closed (what the kernel still holds
	// for the client drains at the pace of the client's window).
	waitWatchers(t, h, 0)
	wantWriteTimeouts(t, h)
}

// wantWriteTimeouts checks that the server counted a watch cut for not
// reading, after as many as it counted before the case.
func wantWriteTimeouts(t *testing.T, h *hostile) {
	t.Helper()
	n := counter(t, h, "apiserver_watch_write_timeouts_total")
	if n <= h.cuts {
		t.Fatalf("apiserver_watch_write_timeouts_total = %v, want more than %v", n, h.cuts)
	}
	h.cuts = n
}

func counter(t *testing.T, h *hostile, name string) float64 {
	t.Helper()
	mfs, err := h.srv.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

func wsNeverReads(t *testing.T, h *hostile) {
	d := websocket.Dialer{ReadBufferSize: 1024}
	conn, _, err := d.Dial(wsURL(h, "watch=true&resourceVersion="+strconv.FormatInt(h.srv.Store().CurrentRevision(), 10)), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	waitWatchers(t, h, 1)
	bigWrites(t, h, "flood-ws")
	waitWatchers(t, h, 0)
	wantWriteTimeouts(t, h)
}

func slowReader(t *testing.T, h *hostile) {
	rv := h.srv.Store().CurrentRevision()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.srv.URL+tasksNS+"?watch=true&resourceVersion="+strconv.FormatInt(rv, 10), nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	wantCode(t, post(t, h.srv, tasksNS, `{"metadata":{"name":"slow"}}`), 201)
	const n = 40
	for i := 0; i < n; i++ {
		b, _ := json.Marshal(map[string]any{"spec": map[string]any{"image": strconv.Itoa(i) + strings.Repeat("z", 20<<10)}})
		wantCode(t, do(t, h.srv, http.MethodPatch, tasksNS+"/slow", mergeCT, string(b)), 200)
	}
	// 1 KiB every 2ms: slow, but never stalled for the write timeout.
	br := bufio.NewReaderSize(&slowBody{r: res.Body}, 1024)
	seen := 0
	for seen < n+1 {
		line, err := br.ReadBytes('\n')
		if err != nil {
			t.Fatalf("after %d events: %v", seen, err)
		}
		var e event
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("event %d: %v", seen, err)
		}
		seen++
	}
}

type slowBody struct{ r io.Reader }

func (s *slowBody) Read(p []byte) (int, error) {
	time.Sleep(2 * time.Millisecond)
	if len(p) > 1024 {
		p = p[:1024]
	}
	return s.r.Read(p)
}

func abandonedWatches(t *testing.T, h *hostile) {
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			conn, err := net.Dial("tcp", h.host)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			q := "watch=true"
			if i%2 == 0 {
				q += "&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
			}
			fmt.Fprintf(conn, "GET %s?%s HTTP/1.1\r\nHost: %s\r\n\r\n", tasksNS, q, h.host)
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				errs <- err
				return
			}
			if res.StatusCode != 200 {
				errs <- fmt.Errorf("watch %d: %d", i, res.StatusCode)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitWatchers(t, h, 0)
}

func compactedWatch(t *testing.T, h *hostile) {
	h.srv.Compact()
	w, r := startWatch(t, h.srv, chunked, tasksNS, "watch=true&resourceVersion=1")
	if r != nil {
		t.Fatalf("watch: %d %s", r.code, r.body)
	}
	e := w.next(t)
	var st metav1.Status
	if e.Type != "ERROR" || json.Unmarshal(e.Object, &st) != nil || st.Code != 410 || st.Reason != metav1.StatusReasonExpired {
		t.Fatalf("want ERROR 410 Expired, got %s %s", e.Type, e.Object)
	}
	w.expectEnd(t)
}

// getsWork checks that n concurrent GETs succeed.
func getsWork(t *testing.T, h *hostile, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.Get(h.srv.URL + tasksNS + "/keep")
			if err != nil {
				errs <- err
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				errs <- fmt.Errorf("GET: %d", res.StatusCode)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func slowloris(t *testing.T, h *hostile) {
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < 50; i++ {
		c, err := net.Dial("tcp", h.host)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\n", tasksNS, h.host)
	}
	for round := 0; round < 10; round++ {
		for i, c := range conns {
			fmt.Fprintf(c, "X-Slow-%d: %d\r\n", round, i)
		}
		time.Sleep(100 * time.Millisecond)
	}
	getsWork(t, h, 20)
}

func idleFlood(t *testing.T, h *hostile) {
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < 500; i++ {
		c, err := net.Dial("tcp", h.host)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	getsWork(t, h, 50)
}

func concurrentRefused(t *testing.T, h *hostile) {
	bodies := []struct{ ct, body string }{
		{jsonCT, `{"metadata":`}, {jsonCT, `{"metadata":{"name":"Bad_Name"}}`}, {"text/plain", `{}`},
		{jsonCT, `{"metadata":{"name":"x","resourceVersion":"3"}}`}, {jsonCT, `{"kind":"Job","metadata":{"name":"x"}}`},
	}
	var wg sync.WaitGroup
	errs := make(chan error, 300)
	c := &http.Client{Timeout: 10 * time.Second}
	for i := 0; i < 300; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			b := bodies[i%len(bodies)]
			res, err := c.Post(h.srv.URL+tasksNS, b.ct, strings.NewReader(b.body))
			if err != nil {
				errs <- err
				return
			}
			defer res.Body.Close()
			var st metav1.Status
			if err := json.NewDecoder(res.Body).Decode(&st); err != nil || st.Kind != "Status" || int(st.Code) != res.StatusCode || res.StatusCode < 400 {
				errs <- fmt.Errorf("request %d: %d %v %+v", i, res.StatusCode, err, st)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func pipelined(t *testing.T, h *hostile) {
	conn, err := net.Dial("tcp", h.host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	reqs := []string{
		"POST " + tasksNS + " HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 3\r\n\r\n{\"m",
		"DELETE " + tasksNS + "/victim?propagationPolicy=Bogus HTTP/1.1\r\nHost: {host}\r\n\r\n",
		"GET " + tasksNS + "?limit=abc HTTP/1.1\r\nHost: {host}\r\n\r\n",
		"GET " + tasksNS + "/keep HTTP/1.1\r\nHost: {host}\r\n\r\n",
	}
	all := strings.ReplaceAll(strings.Join(reqs, ""), "{host}", h.host)
	if _, err := io.WriteString(conn, all); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	for i, want := range []int{400, 422, 400, 200} {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != want {
			t.Fatalf("answer %d: %d, want %d: %s", i, res.StatusCode, want, b)
		}
	}
}
