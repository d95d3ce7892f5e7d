package client

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
			Token                 string `json:"token"`
			TokenFile             string `json:"tokenFile"`
			ClientCertificate     string `json:"client-certificate"`
			ClientCertificateData string `json:"client-certificate-data"`
			ClientKey             string `json:"client-key"`
			ClientKeyData         string `json:"client-key-data"`
		} `json:"user"`
	} `json:"users"`
	Contexts []struct {
		Name    string `json:"name"`
		Context struct {
			Cluster string `json:"cluster"`
			User    string `json:"user"`
		} `json:"context"`
	} `json:"contexts"`
}

// LoadKubeconfig reads a kubeconfig file and returns the Config of one of
// its contexts. path "" means $KUBECONFIG (its first entry) or
// ~/.kube/config; context "" means the file's current-context. It
// understands server, tls-server-name, certificate-authority(-data),
// insecure-skip-tls-verify, token, tokenFile, client-certificate(-data)
// and client-key(-data); relative file paths are resolved against the
// kubeconfig's directory, as kubectl does. Exec and auth-provider plugins
// are not supported.
func LoadKubeconfig(path, context string) (*Config, error) {
	if path == "" {
		path = defaultKubeconfigPath()
		if path == "" {
			return nil, errors.New("kubeconfig: no path given, $KUBECONFIG unset and no home directory")
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	cfg, err := parseKubeconfig(data, filepath.Dir(path), context)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	return cfg, nil
}

func defaultKubeconfigPath() string {
	if env := os.Getenv("KUBECONFIG"); env != "" {
		for _, p := range filepath.SplitList(env) {
			if p != "" {
				return p
			}
		}
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ""
	}
	return filepath.Join(home, ".kube", "config")
}

// parseKubeconfig builds a Config from kubeconfig bytes; dir resolves
// relative file references.
func parseKubeconfig(data []byte, dir, context string) (*Config, error) {
	var kc kubeconfig
	if err := yaml.Unmarshal(data, &kc); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
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
			u := us.User
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
