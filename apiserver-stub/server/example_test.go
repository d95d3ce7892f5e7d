package server_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/kunos-io/listwatch/apiserver-stub/server"
	"github.com/kunos-io/listwatch/apiserver-stub/storage"
)

// Serve the kunos.io/v1 API over an in-memory store, create a Task and
// read it back. A bad request gets a metav1.Status with the right code.
func Example() {
	store := storage.NewMemoryStore(storage.MemoryConfig{Codec: server.NewCodec()})
	defer store.Close()
	api, err := server.New(server.Config{Store: store})
	if err != nil {
		panic(err)
	}
	ts := httptest.NewServer(api)
	defer ts.Close()

	tasks := ts.URL + "/apis/kunos.io/v1/namespaces/default/tasks"
	post := func(body string) {
		resp, err := http.Post(tasks, "application/json", strings.NewReader(body))
		if err != nil {
			panic(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Println(resp.Status)
	}
	post(`{"apiVersion":"kunos.io/v1","kind":"Task","metadata":{"name":"hello"},"spec":{"command":["echo"]}}`)
	post(`{"apiVersion":"kunos.io/v1","kind":"Task","metadata":{"name":"hello"}}`)
	post(`{"apiVersion":"kunos.io/v1","kind":"Task","metadata":{"name":"Not_A_DNS_Name"}}`)
	// Output:
	// 201 Created
	// 409 Conflict
	// 422 Unprocessable Entity
}
