// Command apiserver-stub serves the kunos.io/v1 API (Nodes, Tasks, Jobs) with
// the Kubernetes REST and watch protocol, so that kubectl, client-go
// informers and listwatch controllers can run against it. Objects live in an
// in-memory MVCC store by default; --data-dir keeps them in an etcd member
// inside the process, and --etcd-servers in an etcd cluster that several
// server processes (replicas) share.
//
// Security follows kube-apiserver's flags: --tls-cert-file and
// --tls-private-key-file, or --cert-dir for a generated CA and certificate;
// --token-auth-file and --client-ca-file to authenticate;
// --authorization-mode=RBAC (default AlwaysAllow) with the rbac.authorization.k8s.io
// kinds served; --audit-log-path. Without them it serves plain HTTP with
// everything allowed, which it refuses to do on a non-loopback address
// unless --insecure-allow-unauthenticated-non-loopback says so.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/embed"
	"github.com/kunos-io/listwatch/apiserver-stub/server"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "apiserver-stub:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		listen           = flag.String("listen", "127.0.0.1:8080", "address to serve on (port 0 picks a free one)")
		history          = flag.Int("history", 10000, "number of events kept for watch replay; older watches and exact-RV lists get 410")
		compactInterval  = flag.Duration("compact-interval", time.Minute, "how often history older than --max-history-age is compacted")
		maxHistoryAge    = flag.Duration("max-history-age", 5*time.Minute, "age beyond which history is compacted")
		bookmarkInterval = flag.Duration("bookmark-interval", time.Minute, "period of BOOKMARK events on watches that allow them")
		maxBodyBytes     = flag.Int64("max-body-bytes", 3<<20, "largest request body accepted (413 beyond)")
		logLevel         = flag.String("log-level", "info", "debug, info, warn or error")
		backend          = flag.String("storage", "", "memory or etcd (default: etcd when --etcd-servers or --data-dir is set, else memory)")
		etcdServers      = flag.String("etcd-servers", "", "comma-separated etcd client URLs (--storage=etcd)")
		etcdPrefix       = flag.String("etcd-prefix", "/registry", "prefix of every key in etcd")
		etcdCA           = flag.String("etcd-cafile", "", "CA file that verifies the etcd servers")
		etcdCert         = flag.String("etcd-certfile", "", "client certificate for etcd")
		etcdKey          = flag.String("etcd-keyfile", "", "client key for etcd")
		dataDir          = flag.String("data-dir", "", "run a single-member etcd inside this process with its data here (durable across restarts)")

		tlsCert        = flag.String("tls-cert-file", "", "serve TLS with this certificate (PEM; with --tls-private-key-file)")
		tlsKey         = flag.String("tls-private-key-file", "", "the key of --tls-cert-file")
		certDir        = flag.String("cert-dir", "", "serve TLS with a certificate signed by a CA generated once into this directory (ca.crt), which also verifies client certificates")
		clientCA       = flag.String("client-ca-file", "", "authenticate client certificates signed by these CAs (CN = user, O = groups)")
		tokenFile      = flag.String("token-auth-file", "", "authenticate bearer tokens listed here: token,user,uid,\"group1,group2\"")
		authzMode      = flag.String("authorization-mode", embed.AuthorizationAlwaysAllow, "AlwaysAllow or RBAC")
		anonymous      = flag.Bool("anonymous-auth", true, "let requests without credentials through as system:anonymous, for authorization to judge (never under AlwaysAllow with an authenticator)")
		auditLog       = flag.String("audit-log-path", "", "append one JSON line per request to this file (- for standard output)")
		kubeconfigOut  = flag.String("write-kubeconfig", "", "write a kubeconfig for this server here (with --cert-dir: its CA and an admin client certificate in system:masters)")
		insecureRemote = flag.Bool("insecure-allow-unauthenticated-non-loopback", false, "serve a non-loopback --listen address without TLS and authentication")
	)
	flag.Parse()
	etcdOpts, err := etcdOptions(*backend, *etcdServers, *dataDir)
	if err != nil {
		return err
	}
	etcdOpts.Prefix, etcdOpts.CAFile, etcdOpts.CertFile, etcdOpts.KeyFile = *etcdPrefix, *etcdCA, *etcdCert, *etcdKey
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := embed.Start(ctx, embed.Options{
		Config:          server.Config{BookmarkInterval: *bookmarkInterval, MaxBodyBytes: *maxBodyBytes, Logger: logger},
		Listen:          *listen,
		History:         *history,
		CompactInterval: *compactInterval,
		MaxHistoryAge:   *maxHistoryAge,
		Etcd:            etcdOpts,
		Secure: embed.SecureOptions{
			TLSCertFile: *tlsCert, TLSKeyFile: *tlsKey, CertDir: *certDir, ClientCAFile: *clientCA,
			TokenAuthFile: *tokenFile, AuthorizationMode: *authzMode, DisableAnonymous: !*anonymous,
			AuditLogPath: *auditLog, WriteKubeconfig: *kubeconfigOut,
			InsecureAllowUnauthenticatedNonLoopback: *insecureRemote,
		},
	})
	if err != nil {
		return err
	}
	switch {
	case etcdOpts.DataDir != "" && len(etcdOpts.Servers) == 0:
		fmt.Printf("storage: etcd in %s (embedded)\n", etcdOpts.DataDir)
	case len(etcdOpts.Servers) > 0:
		fmt.Printf("storage: etcd at %s, prefix %s\n", strings.Join(etcdOpts.Servers, ","), etcdOpts.Prefix)
	default:
		fmt.Println("storage: memory (nothing survives a restart; use --data-dir or --etcd-servers to keep it)")
	}
	fmt.Printf("listwatch apiserver-stub serving on %s\n", srv.URL)
	if len(srv.CAData) > 0 {
		fmt.Printf("CA: %s (SHA-256 %s)\n%s", filepath.Join(*certDir, "ca.crt"), embed.Fingerprint(srv.CAData), srv.CAData)
	}
	fmt.Printf("authorization: %s\n", *authzMode)
	switch {
	case *kubeconfigOut != "":
		fmt.Printf("kubeconfig: %s\n", *kubeconfigOut)
		fmt.Printf("try: kubectl --kubeconfig %s get tasks,jobs,nodes -A\n", *kubeconfigOut)
	case strings.HasPrefix(srv.URL, "https://"):
		fmt.Printf("try: kubectl --server %s --certificate-authority CA --token TOKEN get tasks,jobs,nodes -A\n", srv.URL)
	default:
		fmt.Printf("try: kubectl --server %s get tasks,jobs,nodes -A\n", srv.URL)
	}
	fmt.Printf("metrics: %s/metrics\n", srv.URL)
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
		stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Stop(stopCtx)
	case err := <-srv.Done():
		return err
	}
}

// etcdOptions checks the storage flags against each other: etcd at start
// must be reachable, else the server exits with a one-line error.
func etcdOptions(backend, servers, dataDir string) (embed.EtcdOptions, error) {
	var o embed.EtcdOptions
	for _, s := range strings.Split(servers, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.Servers = append(o.Servers, s)
		}
	}
	o.DataDir = dataDir
	switch backend {
	case "":
	case "memory":
		if len(o.Servers) > 0 || o.DataDir != "" {
			return o, errors.New("--storage=memory cannot be combined with --etcd-servers or --data-dir")
		}
	case "etcd":
		if len(o.Servers) == 0 && o.DataDir == "" {
			return o, errors.New("--storage=etcd needs --etcd-servers URL[,URL...] or --data-dir DIR")
		}
	default:
		return o, fmt.Errorf("--storage: %q is not memory or etcd", backend)
	}
	if len(o.Servers) > 0 && o.DataDir != "" {
		return o, errors.New("--data-dir runs etcd in this process: do not combine it with --etcd-servers")
	}
	return o, nil
}
