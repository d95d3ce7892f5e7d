package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/watch"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
)

// randomString mixes characters that matter to the bracket scanner.
func randomString(r *rand.Rand, n int) string {
	const alphabet = `ab{}[]"\:, ` + "\n\t\u00e9\u2028"
	runes := []rune(alphabet)
	var b strings.Builder
	for range n {
		b.WriteRune(runes[r.IntN(len(runes))])
	}
	return b.String()
}

// TestFramerRandomized encodes random events in every envelope shape a
// server might use, with random whitespace (frames on one line, newlines
// inside frames: the line path's wrong cuts), delivers them in random
// chunks, and checks the decoded stream equals the input.
func TestFramerRandomized(t *testing.T) {
	seed := rand.Uint64()
	r := rand.New(rand.NewPCG(seed, 0))
	cd := mustCodec[*kunosv1.Task](kunosv1.Tasks.GVK())
	types := []watch.EventType{watch.Added, watch.Modified, watch.Deleted, watch.Bookmark}
	for round := range 30 {
		var stream bytes.Buffer
		var want []string
		n := 1 + r.IntN(40)
		for i := range n {
			task := &kunosv1.Task{}
			task.Kind, task.APIVersion = "Task", "kunos.io/v1"
			task.Name = fmt.Sprintf("t%d-%d", round, i)
			size := r.IntN(64)
			if r.IntN(20) == 0 {
				size = 40_000 + r.IntN(40_000) // beyond the initial buffer
			}
			task.Annotations = map[string]string{"k": randomString(r, size)}
			task.Spec.Command = []string{randomString(r, r.IntN(8)), "}]"}
			typ := types[r.IntN(len(types))]
			obj, _ := json.Marshal(task)
			var frame string
			switch r.IntN(5) {
			case 0: // canonical
				frame = `{"type":"` + string(typ) + `","object":` + string(obj) + `}`
			case 1: // object first
				frame = `{"object":` + string(obj) + `,"type":"` + string(typ) + `"}`
			case 2: // spaces and an extra key after the object
				frame = "{ \"type\" : \"" + string(typ) + "\" , \"object\" : " + string(obj) + ` , "extra": {"x":[1,{}]} }`
			case 3: // canonical, extra key after object
				frame = `{"type":"` + string(typ) + `","object":` + string(obj) + `,"x":{}}`
			default: // canonical, the object indented: newlines inside the frame
				ind, _ := json.MarshalIndent(task, "", " ")
				frame = `{"type":"` + string(typ) + `","object":` + string(ind) + `}`
			}
			stream.WriteString(frame)
			stream.WriteString([]string{"", "\n", " \r\n\t"}[r.IntN(3)])
			want = append(want, string(typ)+" "+task.Name+" "+task.Annotations["k"]+task.Spec.Command[0])
		}
		data := stream.Bytes()
		var rd io.Reader = bytes.NewReader(data)
		if r.IntN(2) == 0 {
			rd = &chunkReader{data: data, size: 1 + r.IntN(300)}
		}
		f := newHTTPFrames(io.NopCloser(rd), func() {})
		var got []string
		for {
			var raw rawEvent
			ev, err := readEvent(f, &raw, cd.decodeEvent)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("seed %d round %d event %d: %v", seed, round, len(got), err)
			}
			o := ev.Object.(*kunosv1.Task)
			got = append(got, string(ev.Type)+" "+o.Name+" "+o.Annotations["k"]+o.Spec.Command[0])
		}
		if len(got) != len(want) {
			t.Fatalf("seed %d round %d: %d events, want %d", seed, round, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("seed %d round %d event %d differs", seed, round, i)
			}
		}
	}
}

// TestFramerStrayBrace: a syntax error inside a frame that never closes is
// reported when the next data arrives, not when the stream ends.
func TestFramerStrayBrace(t *testing.T) {
	pr, pw := io.Pipe()
	defer pr.Close()
	f := newHTTPFrames(pr, func() {})
	go func() {
		_, _ = pw.Write([]byte(taskAdded + "\n{"))
		_, _ = pw.Write([]byte(taskModified + "\n"))
		// The stream stays open: the writer blocks until the reader closes.
		_, _ = pw.Write([]byte(taskModified))
	}()
	var raw rawEvent
	if err := f.next(&raw); err != nil {
		t.Fatal(err)
	}
	err := f.next(&raw)
	if _, ok := err.(*malformedError); !ok {
		t.Fatalf("err = %v, want malformed", err)
	}
}

func TestFramerTooLarge(t *testing.T) {
	defer func(old int) { maxFrame = old }(maxFrame)
	maxFrame = 1 << 20
	big := io.MultiReader(strings.NewReader(`{"type":"ADDED","object":{"a":"`), &chunkReader{data: bytes.Repeat([]byte("x"), maxFrame+1), size: 64 << 10})
	f := newHTTPFrames(io.NopCloser(big), func() {})
	var raw rawEvent
	err := f.next(&raw)
	if _, ok := err.(*malformedError); !ok || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err = %v", err)
	}
}
