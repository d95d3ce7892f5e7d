// Package proc runs the parties of the whole-process benchmarks
// (cmd/fanout, cmd/drainbench, cmd/kubebench) in processes of their own,
// so that each party's CPU and heap are its own: a child speaks one line
// at a time on its stdout, takes its orders on its stdin and ends when its
// stdin closes; CPU is read from /proc or getrusage.
package proc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Child is a running child process.
type Child struct {
	cmd *exec.Cmd
	// In is the child's stdin: orders, one line each; closing it ends the
	// child.
	In    io.WriteCloser
	lines *bufio.Scanner
}

// Start runs bin with args, or this program itself when bin is "".
func Start(bin string, args ...string) (*Child, error) {
	if bin == "" {
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		bin = self
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &Child{cmd: cmd, In: in, lines: bufio.NewScanner(out)}, nil
}

// Expect reads the child's next line, which must start with word, and
// returns the rest of it.
func (c *Child) Expect(word string, timeout time.Duration) (string, error) {
	got := make(chan string, 1)
	go func() {
		if c.lines.Scan() {
			got <- c.lines.Text()
		}
		close(got)
	}()
	select {
	case l, ok := <-got:
		if !ok {
			return "", fmt.Errorf("child ended before %s", word)
		}
		if !strings.HasPrefix(l, word) {
			return "", fmt.Errorf("child said %q, want %s", l, word)
		}
		return strings.TrimSpace(strings.TrimPrefix(l, word)), nil
	case <-time.After(timeout):
		return "", fmt.Errorf("no %s from the child within %v", word, timeout)
	}
}

// Stop closes the child's stdin and waits for it to end, killing it after
// ten seconds.
func (c *Child) Stop() {
	_ = c.In.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// CPU is the child's user and system CPU so far.
func (c *Child) CPU() (time.Duration, error) { return processCPU(c.cmd.Process.Pid) }

// processCPU reads utime and stime from /proc/<pid>/stat.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; the fields after it do not.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / ticksPerSecond, nil
}

// SelfCPUMillis is this process's CPU so far, user plus system, in
// milliseconds (getrusage: finer than /proc's ticks).
func SelfCPUMillis() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e6
}

// Parallel runs f(0..n-1) on workers goroutines; the first error wins
// and stops the worker that met it.
func Parallel(n, workers int, f func(i int) error) error {
	var (
		next  atomic.Int64
		first error
		once  sync.Once
		wg    sync.WaitGroup
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = fmt.Errorf("object %d: %w", i, err) })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}
