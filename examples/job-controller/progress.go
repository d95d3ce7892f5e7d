package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"k8s.io/apimachinery/pkg/api/meta"
)

// progress prints one concise line each time a Job's counts change, with a
// bar, and remembers when Jobs finish so the demo can exit.
type progress struct {
	out     io.Writer
	mu      sync.Mutex
	last    map[string]string
	started map[string]time.Time
}

func newProgress(out io.Writer) *progress {
	return &progress{out: out, last: map[string]string{}, started: map[string]time.Time{}}
}

// observe is an informer handler: it runs on the informer's delivery
// goroutine for this handler, never under an informer lock.
func (p *progress) observe(j *kunosv1.Job) {
	key := j.Namespace + "/" + j.Name
	completions := j.Spec.CompletionsOrDefault()
	state := "running"
	switch {
	case meta.IsStatusConditionTrue(j.Status.Conditions, kunosv1.JobComplete):
		state = "complete"
	case meta.IsStatusConditionTrue(j.Status.Conditions, kunosv1.JobFailed):
		state = "FAILED"
	}
	line := fmt.Sprintf("%s %s %d/%d succeeded, %d active, %d failed — %s",
		key, bar(j.Status.Succeeded, completions, 20), j.Status.Succeeded, completions, j.Status.Active, j.Status.Failed, state)
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.started[key]; !ok {
		p.started[key] = time.Now()
	}
	if p.last[key] == line {
		return
	}
	p.last[key] = line
	if state != "running" {
		line += fmt.Sprintf(" in %s", time.Since(p.started[key]).Round(100*time.Millisecond))
	}
	fmt.Fprintf(p.out, "%s  job %s\n", time.Now().Format("15:04:05"), line)
}

func (p *progress) forget(j *kunosv1.Job) {
	key := j.Namespace + "/" + j.Name
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.last, key)
	delete(p.started, key)
	fmt.Fprintf(p.out, "%s  job %s deleted\n", time.Now().Format("15:04:05"), key)
}

func bar(done, total int32, width int) string {
	if total <= 0 {
		total = 1
	}
	n := int(done) * width / int(total)
	n = min(max(n, 0), width)
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}
