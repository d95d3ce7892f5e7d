package audit

// This file holds the event and its writer. Invariant: every event is one
// complete line (events never interleave), written in the order Log is
// called.

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Event is one audit record.
type Event struct {
	Time        time.Time `json:"time"`
	User        string    `json:"user"`
	UID         string    `json:"uid,omitempty"`
	Groups      []string  `json:"groups,omitempty"`
	SourceIP    string    `json:"sourceIP,omitempty"`
	Verb        string    `json:"verb"`
	APIGroup    string    `json:"apiGroup,omitempty"`
	APIVersion  string    `json:"apiVersion,omitempty"`
	Resource    string    `json:"resource,omitempty"`
	Subresource string    `json:"subresource,omitempty"`
	Namespace   string    `json:"namespace,omitempty"`
	Name        string    `json:"name,omitempty"`
	Path        string    `json:"path,omitempty"`
	Code        int       `json:"code"`
	// Decision is "allow" or "forbid", or empty when the request was
	// not authenticated.
	Decision string `json:"decision,omitempty"`
	// LatencySeconds is how long the request took, from receipt to the
	// end of the answer.
	LatencySeconds float64 `json:"latencySeconds"`
}

// Log writes events as JSON lines.
type Log struct {
	mu     sync.Mutex
	w      io.Writer
	closer io.Closer
	failed bool
	onErr  func(error)
}

// New returns a Log writing to w. onErr, if set, is told of the first
// write error.
func New(w io.Writer, onErr func(error)) *Log { return &Log{w: w, onErr: onErr} }

// Open appends to the file at path ("-" is standard output).
func Open(path string, onErr func(error)) (*Log, error) {
	if path == "-" {
		return New(os.Stdout, onErr), nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	l := New(f, onErr)
	l.closer = f
	return l, nil
}

// Log writes e.
func (l *Log) Log(e *Event) {
	b, err := json.Marshal(e)
	if err != nil {
		l.fail(err)
		return
	}
	b = append(b, '\n')
	l.mu.Lock()
	_, err = l.w.Write(b)
	l.mu.Unlock()
	if err != nil {
		l.fail(err)
	}
}

func (l *Log) fail(err error) {
	l.mu.Lock()
	first := !l.failed
	l.failed = true
	l.mu.Unlock()
	if first && l.onErr != nil {
		l.onErr(fmt.Errorf("audit: %w", err))
	}
}

// Close closes the file Open opened.
func (l *Log) Close() error {
	if l.closer == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closer.Close()
}
