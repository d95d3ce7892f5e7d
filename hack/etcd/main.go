// Command etcd is the etcd server, built from go.etcd.io/etcd/server/v3 at
// the version go.mod pins. It exists so that hack/e2e.sh runs real etcd
// clusters as separate processes built through the Go module proxy, with no
// release tarball to download and no etcd to install (see hack/lib/etcd.sh).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
