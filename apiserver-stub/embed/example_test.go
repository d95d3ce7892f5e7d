package embed_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/kunos-io/listwatch/apiserver-stub/embed"
)

// Start an API server inside the process on a free port, create a Task with
// a plain HTTP request, and stop the server with the context.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := embed.Start(ctx, embed.Options{Listen: "127.0.0.1:0"})
	if err != nil {
		panic(err)
	}
	body := `{"apiVersion":"kunos.io/v1","kind":"Task","metadata":{"name":"hello"},"spec":{"command":["echo","hi"]}}`
	resp, err := http.Post(srv.URL+"/apis/kunos.io/v1/namespaces/default/tasks", "application/json", strings.NewReader(body))
	if err != nil {
		panic(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	fmt.Println(resp.Status)
	// Output: 201 Created
}
