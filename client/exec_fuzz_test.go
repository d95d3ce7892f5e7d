package client

import "testing"

// FuzzExecCredential: any plugin output is a token or an error, never a
// panic, and a token is never empty.
func FuzzExecCredential(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"t","expirationTimestamp":"2030-01-01T00:00:00Z"}}`))
	f.Add([]byte(`{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"clientCertificateData":"x"}}`))
	f.Add([]byte(`{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential"}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, _, err := parseExecCredential(data, execV1, "plugin")
		if err == nil && tok == "" {
			t.Fatalf("no error and no token for %q", data)
		}
	})
}
