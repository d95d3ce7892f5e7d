package client

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// kubeconfig is the subset of a kubeconfig file (clientcmd v1) that
// LoadKubeconfig understands.
type kubeconfig struct {
	CurrentContext string `json:"current-context"`
	Clusters       []struct {
		Name    string `json:"name"`
		Cluster struct {
			Server                   string `json:"server"`
			CertificateAuthority     string `json:"certificate-authority"`
			CertificateAuthorityData string `json:"certificate-authority-data"`
			InsecureSkipTLSVerify    bool   `json:"insecure-skip-tls-verify"`
			TLSServerName            string `json:"tls-server-name"`
		} `json:"cluster"`
	} `json:"clusters"`
	Users []struct {
		Name string `json:"name"`
		User struct {
			Token                 string      `json:"token"`
			TokenFile             string      `json:"tokenFile"`
			ClientCertificate     string      `json:"client-certificate"`
			ClientCertificateData string      `json:"client-certificate-data"`
			ClientKey             string      `json:"client-key"`
			ClientKeyData         string      `json:"client-key-data"`
			Exec                  *ExecConfig `json:"exec"`
			AuthProvider          *struct {
				Name string `json:"name"`
			} `json:"auth-provider"`
		} `json:"user"`
	} `json:"users"`
	Contexts []namedContext `json:"contexts"`
}

type namedContext struct {
	Name    string `json:"name"`
	Context struct {
		Cluster string `json:"cluster"`
		User    string `json:"user"`
	} `json:"context"`
}

// LoadKubeconfig reads a kubeconfig and returns the Config of one of its
// contexts. path names a file, or a list of files (":"-separated, ";" on
// Windows) merged as kubectl merges $KUBECONFIG; "" means $KUBECONFIG (for each
// cluster, user and context name and for current-context, the first file
// that sets it wins; files that do not exist are skipped), or
// ~/.kube/config when it is unset. context "" means the current-context.
// It understands server, tls-server-name, certificate-authority(-data),
// insecure-skip-tls-verify, token, tokenFile, client-certificate(-data),
// client-key(-data) and exec credential plugins; relative file paths are
// resolved against the directory of the file that holds them, as kubectl
// does. The removed auth-provider plugins are a clear error.
func LoadKubeconfig(path, context string) (*Config, error) {
	var paths []string
	explicit := path != ""
	if explicit {
		paths = filepath.SplitList(path)
	} else {
		paths = defaultKubeconfigPaths()
		if len(paths) == 0 {
			return nil, errors.New("kubeconfig: no path given, $KUBECONFIG unset and no home directory")
		}
	}
	var files []kubeconfigFile
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && len(paths) > 1 {
				continue // kubectl skips missing entries of $KUBECONFIG
			}
			return nil, fmt.Errorf("kubeconfig: %w", err)
		}
		var kc kubeconfig
		if err := yaml.Unmarshal(data, &kc); err != nil {
			return nil, fmt.Errorf("kubeconfig %s: parse: %w", p, err)
		}
		files = append(files, kubeconfigFile{kc: kc, dir: filepath.Dir(p)})
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("kubeconfig: none of %s exists", strings.Join(paths, ", "))
	}
	cfg, err := buildConfig(files, context)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", strings.Join(paths, string(filepath.ListSeparator)), err)
	}
	return cfg, nil
}

// DefaultKubeconfigPath is the kubeconfig a program reads without one
// given, for flag defaults and messages: $KUBECONFIG (a list) or
// ~/.kube/config.
func DefaultKubeconfigPath() string {
	if env := os.Getenv("KUBECONFIG"); env != "" {
		return env
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ""
	}
	return filepath.Join(home, ".kube", "config")
}

func defaultKubeconfigPaths() []string {
	if env := os.Getenv("KUBECONFIG"); env != "" {
		var out []string
		for _, p := range filepath.SplitList(env) {
			if p != "" && !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
		return out
	}
	if p := DefaultKubeconfigPath(); p != "" {
		return []string{p}
	}
	return nil
}

// kubeconfigFile is one parsed file and the directory its relative paths
// are resolved against.
type kubeconfigFile struct {
	kc  kubeconfig
	dir string
}

// parseKubeconfig builds a Config from kubeconfig bytes; dir resolves
// relative file references.
func parseKubeconfig(data []byte, dir, context string) (*Config, error) {
	var kc kubeconfig
	if err := yaml.Unmarshal(data, &kc); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	return buildConfig([]kubeconfigFile{{kc: kc, dir: dir}}, context)
}

// buildConfig merges files (the first to name an entry wins) and builds the
// Config of context.
func buildConfig(files []kubeconfigFile, context string) (*Config, error) {
	var kc kubeconfig
	clusterDir, userDir := map[string]string{}, map[string]string{}
	for _, f := range files {
		if kc.CurrentContext == "" {
			kc.CurrentContext = f.kc.CurrentContext
		}
		for _, c := range f.kc.Clusters {
			if _, ok := clusterDir[c.Name]; !ok {
				clusterDir[c.Name] = f.dir
				kc.Clusters = append(kc.Clusters, c)
			}
		}
		for _, u := range f.kc.Users {
			if _, ok := userDir[u.Name]; !ok {
				userDir[u.Name] = f.dir
				kc.Users = append(kc.Users, u)
			}
		}
		for _, c := range f.kc.Contexts {
			if !slices.ContainsFunc(kc.Contexts, func(x namedContext) bool { return x.Name == c.Name }) {
				kc.Contexts = append(kc.Contexts, c)
			}
		}
	}
	if context == "" {
		context = kc.CurrentContext
		if context == "" {
			return nil, errors.New("no context given and no current-context set")
		}
	}
	ctxIdx := -1
	for i := range kc.Contexts {
		if kc.Contexts[i].Name == context {
			ctxIdx = i
			break
		}
	}
	if ctxIdx < 0 {
		return nil, fmt.Errorf("context %q not found", context)
	}
	kctx := kc.Contexts[ctxIdx].Context

	cfg := &Config{}
	found := false
	for _, cl := range kc.Clusters {
		if cl.Name != kctx.Cluster {
			continue
		}
		found = true
		dir := clusterDir[cl.Name]
		c := cl.Cluster
		if c.Server == "" {
			return nil, fmt.Errorf("cluster %q has no server", cl.Name)
		}
		cfg.Host = c.Server
		cfg.TLS.Insecure = c.InsecureSkipTLSVerify
		cfg.TLS.ServerName = c.TLSServerName
		var err error
		if cfg.TLS.CAData, err = decodeB64("certificate-authority-data", c.CertificateAuthorityData); err != nil {
			return nil, fmt.Errorf("cluster %q: %w", cl.Name, err)
		}
		cfg.TLS.CAFile = resolve(dir, c.CertificateAuthority)
		break
	}
	if !found {
		return nil, fmt.Errorf("context %q: cluster %q not found", context, kctx.Cluster)
	}

	if kctx.User != "" {
		found = false
		for _, us := range kc.Users {
			if us.Name != kctx.User {
				continue
			}
			found = true
			dir := userDir[us.Name]
			u := us.User
			if u.AuthProvider != nil {
				return nil, fmt.Errorf("user %q: the auth-provider plugin %q was removed from Kubernetes clients (1.26); use an exec credential plugin instead (for GKE gke-gcloud-auth-plugin, for AKS kubelogin)", us.Name, u.AuthProvider.Name)
			}
			if u.Exec != nil {
				ex := *u.Exec
				if strings.ContainsRune(ex.Command, filepath.Separator) {
					ex.Command = resolve(dir, ex.Command)
				}
				if err := ex.validate(); err != nil {
					return nil, fmt.Errorf("user %q: %w", us.Name, err)
				}
				cfg.ExecProvider = &ex
			}
			cfg.BearerToken = u.Token
			if cfg.BearerToken == "" && u.TokenFile != "" {
				b, err := os.ReadFile(resolve(dir, u.TokenFile))
				if err != nil {
					return nil, fmt.Errorf("user %q: tokenFile: %w", us.Name, err)
				}
				cfg.BearerToken = strings.TrimSpace(string(b))
			}
			var err error
			if cfg.TLS.CertData, err = decodeB64("client-certificate-data", u.ClientCertificateData); err != nil {
				return nil, fmt.Errorf("user %q: %w", us.Name, err)
			}
			if cfg.TLS.KeyData, err = decodeB64("client-key-data", u.ClientKeyData); err != nil {
				return nil, fmt.Errorf("user %q: %w", us.Name, err)
			}
			cfg.TLS.CertFile = resolve(dir, u.ClientCertificate)
			cfg.TLS.KeyFile = resolve(dir, u.ClientKey)
			break
		}
		if !found {
			return nil, fmt.Errorf("context %q: user %q not found", context, kctx.User)
		}
	}
	return cfg, nil
}

func decodeB64(field, s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	return b, nil
}

func resolve(dir, p string) string {
	if p == "" || filepath.IsAbs(p) || dir == "" {
		return p
	}
	return filepath.Join(dir, p)
}
