package etcdrun

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Options configure one member. The zero value (with a DataDir) is a
// single-member cluster on free loopback ports.
type Options struct {
	// DataDir holds the member's data; required. A directory that already
	// holds a member's data restarts that member with everything it had.
	DataDir string
	// Name of the member (default "default").
	Name string
	// ClientPort and PeerPort: 0 picks free loopback ports.
	ClientPort, PeerPort int
	// InitialCluster lists every member as name=peerURL, comma-separated;
	// empty for a single member.
	InitialCluster string
	// ExistingCluster joins a cluster that has already bootstrapped (a
	// restarted member with an empty data dir); the default bootstraps a
	// new one.
	ExistingCluster bool
	// ProgressNotifyInterval is how often idle watches get a progress
	// notification (default 1s, so watch caches and bookmarks move on).
	ProgressNotifyInterval time.Duration
	// FastElection shortens heartbeats and election timeouts, for tests.
	FastElection bool
	// StartTimeout bounds waiting for the member to be ready (default 60s).
	StartTimeout time.Duration
	// LogLevel of etcd's own log, to stderr (default "error").
	LogLevel string
	// TLS, when CertFile is set, serves clients over https with that
	// certificate and, with CAFile, requires client certificates signed by
	// that CA (etcd's --client-cert-auth).
	TLS TLSFiles
}

// TLSFiles name PEM files.
type TLSFiles struct {
	CertFile, KeyFile, CAFile string
}

// Member is one running etcd member.
type Member struct {
	Name      string
	ClientURL string
	PeerURL   string
	etcd      *embed.Etcd
	closeOnce sync.Once
}

// Start starts a member and waits until it serves clients.
func Start(opts Options) (*Member, error) {
	if opts.DataDir == "" {
		return nil, errors.New("etcdrun: Options.DataDir is required")
	}
	if opts.Name == "" {
		opts.Name = "default"
	}
	if opts.ProgressNotifyInterval <= 0 {
		opts.ProgressNotifyInterval = time.Second
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 60 * time.Second
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "error"
	}
	var err error
	if opts.ClientPort == 0 {
		if opts.ClientPort, err = FreePort(); err != nil {
			return nil, err
		}
	}
	if opts.PeerPort == 0 {
		if opts.PeerPort, err = FreePort(); err != nil {
			return nil, err
		}
	}
	scheme := "http"
	if opts.TLS.CertFile != "" {
		scheme = "https"
	}
	clientURL := url.URL{Scheme: scheme, Host: fmt.Sprintf("127.0.0.1:%d", opts.ClientPort)}
	peerURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", opts.PeerPort)}

	cfg := embed.NewConfig()
	cfg.Name = opts.Name
	cfg.Dir = opts.DataDir
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = opts.InitialCluster
	if cfg.InitialCluster == "" {
		cfg.InitialCluster = opts.Name + "=" + peerURL.String()
	}
	if opts.ExistingCluster {
		cfg.ClusterState = embed.ClusterStateFlagExisting
	}
	if opts.TLS.CertFile != "" {
		cfg.ClientTLSInfo.CertFile, cfg.ClientTLSInfo.KeyFile = opts.TLS.CertFile, opts.TLS.KeyFile
		if opts.TLS.CAFile != "" {
			cfg.ClientTLSInfo.TrustedCAFile = opts.TLS.CAFile
			cfg.ClientTLSInfo.ClientCertAuth = true
		}
	}
	cfg.WatchProgressNotifyInterval = opts.ProgressNotifyInterval
	cfg.LogLevel = opts.LogLevel
	cfg.LogOutputs = []string{"stderr"}
	if opts.FastElection {
		cfg.TickMs = 10
		cfg.ElectionMs = 100
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcdrun: start member %s in %s: %w", opts.Name, opts.DataDir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcdrun: member %s failed: %w", opts.Name, err)
	case <-time.After(opts.StartTimeout):
		e.Server.Stop()
		e.Close()
		return nil, fmt.Errorf("etcdrun: member %s not ready after %s", opts.Name, opts.StartTimeout)
	}
	return &Member{Name: opts.Name, ClientURL: clientURL.String(), PeerURL: peerURL.String(), etcd: e}, nil
}

// Close stops the member (its data stays in its DataDir). It may be called
// more than once.
func (m *Member) Close() { m.closeOnce.Do(m.etcd.Close) }

// Err reports a fatal error of the running member.
func (m *Member) Err() <-chan error { return m.etcd.Err() }

// IsLeader reports whether the member is the cluster's leader now.
func (m *Member) IsLeader() bool {
	return m.etcd.Server.Leader() == m.etcd.Server.MemberID()
}

// ClientOptions say how to reach an etcd cluster.
type ClientOptions struct {
	// Endpoints are client URLs (http:// or https://).
	Endpoints []string
	// CAFile verifies the servers; CertFile and KeyFile are this client's
	// certificate (etcd's --client-cert-auth). Empty: plain connections.
	CAFile, CertFile, KeyFile string
}

// NewClient returns a client with settings that suit a server process:
// a short dial timeout, keepalives that notice a dead member within
// seconds, and a quiet logger. It does not wait for etcd to answer.
func NewClient(opts ClientOptions) (*clientv3.Client, error) {
	if len(opts.Endpoints) == 0 {
		return nil, errors.New("etcdrun: no etcd endpoints")
	}
	cfg := clientv3.Config{
		Endpoints:            opts.Endpoints,
		DialTimeout:          5 * time.Second,
		DialKeepAliveTime:    2 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		Logger:               zap.NewNop(),
	}
	if opts.CAFile != "" || opts.CertFile != "" || opts.KeyFile != "" {
		info := transport.TLSInfo{CertFile: opts.CertFile, KeyFile: opts.KeyFile, TrustedCAFile: opts.CAFile}
		tc, err := info.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("etcdrun: etcd TLS: %w", err)
		}
		cfg.TLS = tc
	}
	c, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcdrun: etcd client for %s: %w", strings.Join(opts.Endpoints, ","), err)
	}
	return c, nil
}

// Cluster is n members started together, in one process.
type Cluster struct {
	Members []*Member
	opts    []Options
}

// ClusterOptions configure StartCluster.
type ClusterOptions struct {
	// Dir holds the members' data directories (m0, m1, ...).
	Dir string
	// Members is the cluster size. Default 3.
	Members int
	// Member is the template of every member's Options: its FastElection
	// and LogLevel apply; names, ports, data directories and the initial
	// cluster are set per member.
	Member Options
}

// StartCluster starts the members of a new cluster in this process and
// waits until they serve.
func StartCluster(co ClusterOptions) (*Cluster, error) {
	dir, n := co.Dir, co.Members
	if n <= 0 {
		n = 3
	}
	c := &Cluster{}
	var parts []string
	for i := range n {
		cp, err := FreePort()
		if err != nil {
			return nil, err
		}
		pp, err := FreePort()
		if err != nil {
			return nil, err
		}
		o := Options{
			DataDir: fmt.Sprintf("%s/m%d", dir, i), Name: fmt.Sprintf("m%d", i),
			ClientPort: cp, PeerPort: pp, FastElection: co.Member.FastElection, LogLevel: co.Member.LogLevel,
		}
		c.opts = append(c.opts, o)
		parts = append(parts, fmt.Sprintf("m%d=http://127.0.0.1:%d", i, pp))
	}
	for i := range c.opts {
		c.opts[i].InitialCluster = strings.Join(parts, ",")
	}
	// Members of a new cluster wait for each other: start them together.
	type res struct {
		i int
		m *Member
		e error
	}
	ch := make(chan res, n)
	for i := range c.opts {
		go func() {
			m, err := Start(c.opts[i])
			ch <- res{i, m, err}
		}()
	}
	c.Members = make([]*Member, n)
	var errs []error
	for range n {
		r := <-ch
		c.Members[r.i] = r.m
		if r.e != nil {
			errs = append(errs, r.e)
		}
	}
	if err := errors.Join(errs...); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Endpoints are the members' client URLs.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for i, m := range c.Members {
		if m != nil {
			eps = append(eps, m.ClientURL)
		} else {
			eps = append(eps, fmt.Sprintf("http://127.0.0.1:%d", c.opts[i].ClientPort))
		}
	}
	return eps
}

// Leader returns the index of the leader among the running members, or -1.
func (c *Cluster) Leader() int {
	for i, m := range c.Members {
		if m != nil && m.IsLeader() {
			return i
		}
	}
	return -1
}

// WaitLeader waits until a running member is leader and returns its index.
func (c *Cluster) WaitLeader(ctx context.Context) (int, error) {
	for {
		if i := c.Leader(); i >= 0 {
			return i, nil
		}
		select {
		case <-ctx.Done():
			return -1, fmt.Errorf("etcdrun: no leader: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop stops member i, keeping its data.
func (c *Cluster) Stop(i int) {
	if m := c.Members[i]; m != nil {
		m.Close()
		c.Members[i] = nil
	}
}

// Restart starts a stopped member i again from its data.
func (c *Cluster) Restart(i int) error {
	if c.Members[i] != nil {
		return fmt.Errorf("etcdrun: member %d is running", i)
	}
	m, err := Start(c.opts[i])
	if err != nil {
		return err
	}
	c.Members[i] = m
	return nil
}

// Close stops every member.
func (c *Cluster) Close() {
	for i := range c.Members {
		c.Stop(i)
	}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("etcdrun: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
