package audit_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/audit"
)

func TestConcurrentLinesStayWhole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := audit.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				l.Log(&audit.Event{Time: time.Now(), User: fmt.Sprintf("u%d", g), Verb: "get", Code: 200})
			}
		}()
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(path)
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); n++ {
		var e audit.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Verb != "get" {
			t.Fatalf("line %d: %v %q", n, err, sc.Text())
		}
	}
	if n != 800 {
		t.Fatalf("%d lines, want 800", n)
	}
}

type failing struct{}

func (failing) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteErrorReportedOnce(t *testing.T) {
	var errs []error
	l := audit.New(failing{}, func(err error) { errs = append(errs, err) })
	l.Log(&audit.Event{})
	l.Log(&audit.Event{})
	if len(errs) != 1 {
		t.Fatalf("errors reported: %v", errs)
	}
}

// Each answered request is one JSON line.
func Example() {
	l := audit.New(os.Stdout, nil)
	l.Log(&audit.Event{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), User: "bob", Groups: []string{"system:authenticated"},
		Verb: "list", APIGroup: "kunos.io", Resource: "tasks", Namespace: "team-b", Code: 403, Decision: "forbid", LatencySeconds: 0.0002})
	// Output:
	// {"time":"2026-01-02T03:04:05Z","user":"bob","groups":["system:authenticated"],"verb":"list","apiGroup":"kunos.io","resource":"tasks","namespace":"team-b","code":403,"decision":"forbid","latencySeconds":0.0002}
}
