// Package etcdtest gives tests an embedded etcd member and the goleak
// options that tolerate what etcd's own libraries leave running after a
// member closes (none of it ours).
package etcdtest
