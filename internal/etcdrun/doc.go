// Package etcdrun starts etcd members inside the current process, with
// go.etcd.io/etcd/server/v3/embed: the single-member etcd behind the API
// server's --data-dir, and the members of the in-process clusters that
// tests start. Members listen on loopback only.
package etcdrun
