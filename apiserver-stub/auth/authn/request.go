package authn

// This file finds the credentials of a request. Invariant: it only reads
// the request; a credential found here is checked by an authenticator.

import (
	"encoding/base64"
	"net/http"
	"strings"
)

// wsProtocolPrefix carries a bearer token in a WebSocket subprotocol, for
// clients (browsers) that cannot set Authorization, as kube-apiserver
// accepts it.
const wsProtocolPrefix = "base64url.bearer.authorization.k8s.io."

// BearerToken returns the request's bearer token: from "Authorization:
// Bearer TOKEN" or, on a WebSocket upgrade, from the subprotocol
// base64url.bearer.authorization.k8s.io.<base64url token>.
func BearerToken(r *http.Request) (string, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
		if ok && strings.EqualFold(scheme, "bearer") {
			if tok = strings.TrimSpace(tok); tok != "" {
				return tok, true
			}
		}
		return "", false
	}
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			enc, ok := strings.CutPrefix(strings.TrimSpace(p), wsProtocolPrefix)
			if !ok {
				continue
			}
			b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(enc, "="))
			if err != nil || len(b) == 0 {
				return "", false
			}
			return string(b), true
		}
	}
	return "", false
}
