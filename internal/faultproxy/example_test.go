package faultproxy_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/kunos-io/listwatch/internal/faultproxy"
)

// Put the proxy between an HTTP client and a server, then cut the
// connection and refuse new ones, as a server that went away.
func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello")
	}))
	defer srv.Close()

	p, err := faultproxy.New(strings.TrimPrefix(srv.URL, "http://"), faultproxy.Options{})
	if err != nil {
		panic(err)
	}
	defer p.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}

	get := func() string {
		resp, err := hc.Get(p.URL())
		if err != nil {
			return "error"
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	fmt.Println(get())
	fmt.Println("cut:", p.CutAll()) // the idle keep-alive connection
	p.SetRefuse(true)
	fmt.Println(get())
	p.SetRefuse(false)
	fmt.Println(get())
	// Output:
	// hello
	// cut: 1
	// error
	// hello
}
