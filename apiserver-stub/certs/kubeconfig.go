package certs

// This file writes kubeconfig files. Invariant: what it writes is a
// complete kubeconfig (one cluster, one user, one current context) that
// kubectl and package client load without further flags.

import (
	"encoding/base64"
	"fmt"

	"sigs.k8s.io/yaml"
)

// Kubeconfig describes the one cluster, user and context to write.
type Kubeconfig struct {
	// Server is the API server URL; CAPEM verifies it.
	Server string
	CAPEM  []byte
	// User names the user entry; ClientCert or Token is its credential.
	User       string
	ClientCert *Pair
	Token      string
	// Context names the context and the cluster; default "listwatch".
	Context string
}

// Marshal returns the kubeconfig as YAML.
func (k Kubeconfig) Marshal() ([]byte, error) {
	name := k.Context
	if name == "" {
		name = "listwatch"
	}
	user := k.User
	if user == "" {
		user = name
	}
	b64 := base64.StdEncoding.EncodeToString
	cluster := map[string]any{"server": k.Server}
	if len(k.CAPEM) > 0 {
		cluster["certificate-authority-data"] = b64(k.CAPEM)
	}
	u := map[string]any{}
	if k.ClientCert != nil {
		u["client-certificate-data"] = b64(k.ClientCert.CertPEM)
		u["client-key-data"] = b64(k.ClientCert.KeyPEM)
	}
	if k.Token != "" {
		u["token"] = k.Token
	}
	doc := map[string]any{
		"apiVersion":      "v1",
		"kind":            "Config",
		"clusters":        []any{map[string]any{"name": name, "cluster": cluster}},
		"users":           []any{map[string]any{"name": user, "user": u}},
		"contexts":        []any{map[string]any{"name": name, "context": map[string]any{"cluster": name, "user": user}}},
		"current-context": name,
	}
	b, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("certs: kubeconfig: %w", err)
	}
	return b, nil
}

// Write writes the kubeconfig to path with mode 0600 (it holds a key).
func (k Kubeconfig) Write(path string) error {
	b, err := k.Marshal()
	if err != nil {
		return err
	}
	return writeFile(path, b, 0o600)
}
