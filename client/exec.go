package client

// This file runs kubeconfig exec credential plugins
// (client.authentication.k8s.io ExecCredential), as EKS, GKE and AKS
// kubeconfigs use: the plugin is run when a token is first needed, its
// token is cached until its expirationTimestamp (or forever without one),
// and it is run again when the server answers 401 to a request that sent
// it. Interactive plugins are not supported (the client has no terminal
// to hand them).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// ExecConfig is a kubeconfig user's exec section.
type ExecConfig struct {
	// Command is the executable; a relative path with a separator is
	// resolved against the kubeconfig's directory, as kubectl does.
	Command string   `json:"command"`
	Args    []string `json:"args,omitempty"`
	// Env is added to the client process's environment for the plugin.
	Env []ExecEnvVar `json:"env,omitempty"`
	// APIVersion of the ExecCredential: client.authentication.k8s.io/v1
	// or v1beta1.
	APIVersion string `json:"apiVersion"`
	// InstallHint is shown when the command is not found.
	InstallHint string `json:"installHint,omitempty"`
	// InteractiveMode: Never, IfAvailable or Always. Always fails: the
	// client never has a terminal for the plugin.
	InteractiveMode string `json:"interactiveMode,omitempty"`
}

// ExecEnvVar is one environment variable for an exec plugin.
type ExecEnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// The ExecCredential API versions a plugin may speak.
const (
	execV1      = "client.authentication.k8s.io/v1"
	execV1beta1 = "client.authentication.k8s.io/v1beta1"
)

// execCredential is the plugin's input (spec) and output (status).
type execCredential struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Spec       struct {
		Interactive bool `json:"interactive"`
	} `json:"spec"`
	Status *struct {
		ExpirationTimestamp   *time.Time `json:"expirationTimestamp,omitempty"`
		Token                 string     `json:"token,omitempty"`
		ClientCertificateData string     `json:"clientCertificateData,omitempty"`
		ClientKeyData         string     `json:"clientKeyData,omitempty"`
	} `json:"status,omitempty"`
}

// validate checks what can be checked before running the plugin.
func (e *ExecConfig) validate() error {
	if e.Command == "" {
		return errors.New("exec plugin: no command")
	}
	switch e.APIVersion {
	case execV1, execV1beta1:
	case "client.authentication.k8s.io/v1alpha1":
		return fmt.Errorf("exec plugin %s: apiVersion %s was removed in Kubernetes 1.24; use %s", e.Command, e.APIVersion, execV1)
	default:
		return fmt.Errorf("exec plugin %s: unsupported apiVersion %q (want %s or %s)", e.Command, e.APIVersion, execV1, execV1beta1)
	}
	switch e.InteractiveMode {
	case "", "Never", "IfAvailable":
	case "Always":
		return fmt.Errorf("exec plugin %s: interactiveMode Always is not supported: this client cannot give the plugin a terminal; run it in kubectl first, or use a plugin mode that needs no input", e.Command)
	default:
		return fmt.Errorf("exec plugin %s: unknown interactiveMode %q", e.Command, e.InteractiveMode)
	}
	return nil
}

// execTokens caches the token of an exec plugin.
type execTokens struct {
	cfg ExecConfig
	now func() time.Time

	mu      sync.Mutex
	tok     string
	expires time.Time // zero: no expiry
	runs    int
}

func newExecTokens(cfg *ExecConfig) (*execTokens, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &execTokens{cfg: *cfg, now: time.Now}, nil
}

// token returns the cached token, running the plugin when there is none
// or it expired.
func (e *execTokens) token(ctx context.Context) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.tok != "" && (e.expires.IsZero() || e.now().Before(e.expires)) {
		return e.tok, nil
	}
	tok, exp, err := e.run(ctx)
	if err != nil {
		return "", err
	}
	e.tok, e.expires = tok, exp
	return tok, nil
}

// invalidate drops tok (refused by the server with 401) so that the next
// request runs the plugin again; a newer token is kept.
func (e *execTokens) invalidate(tok string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.tok == tok {
		e.tok, e.expires = "", time.Time{}
	}
}

// run runs the plugin once and reads its ExecCredential.
func (e *execTokens) run(ctx context.Context) (string, time.Time, error) {
	e.runs++
	in := execCredential{APIVersion: e.cfg.APIVersion, Kind: "ExecCredential"}
	info, err := json.Marshal(in)
	if err != nil {
		return "", time.Time{}, err
	}
	cmd := exec.CommandContext(ctx, e.cfg.Command, e.cfg.Args...)
	cmd.Env = append(os.Environ(), "KUBERNETES_EXEC_INFO="+string(info))
	for _, v := range e.cfg.Env {
		cmd.Env = append(cmd.Env, v.Name+"="+v.Value)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			msg := fmt.Sprintf("exec plugin: executable %s not found", e.cfg.Command)
			if e.cfg.InstallHint != "" {
				msg += "\n\n" + e.cfg.InstallHint
			}
			return "", time.Time{}, errors.New(msg)
		}
		return "", time.Time{}, fmt.Errorf("exec plugin %s failed: %w; stderr: %s", e.cfg.Command, err, strings.TrimSpace(tail(stderr.String(), 1024)))
	}
	return parseExecCredential(stdout.Bytes(), e.cfg.APIVersion, e.cfg.Command)
}

// parseExecCredential reads a plugin's output: an ExecCredential of
// apiVersion with a token, and its expiry (zero: none).
func parseExecCredential(data []byte, apiVersion, command string) (string, time.Time, error) {
	var out execCredential
	if err := json.Unmarshal(data, &out); err != nil {
		return "", time.Time{}, fmt.Errorf("exec plugin %s: its output is not an ExecCredential: %w", command, err)
	}
	if out.Kind != "ExecCredential" || out.APIVersion != apiVersion {
		return "", time.Time{}, fmt.Errorf("exec plugin %s: it printed %s %s, want ExecCredential %s", command, out.APIVersion, out.Kind, apiVersion)
	}
	if out.Status == nil || out.Status.Token == "" {
		if out.Status != nil && out.Status.ClientCertificateData != "" {
			return "", time.Time{}, fmt.Errorf("exec plugin %s: client certificates from exec plugins are not supported, only tokens", command)
		}
		return "", time.Time{}, fmt.Errorf("exec plugin %s: its ExecCredential has no status.token", command)
	}
	var exp time.Time
	if out.Status.ExpirationTimestamp != nil {
		exp = *out.Status.ExpirationTimestamp
	}
	return out.Status.Token, exp, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

type tokenKey struct{}

// withToken carries the bearer token of one attempt to its headers.
func withToken(ctx context.Context, tok string) context.Context {
	return context.WithValue(ctx, tokenKey{}, tok)
}
