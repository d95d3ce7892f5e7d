package server

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// continueToken is the state a paged list carries between pages, in
// kube-apiserver's format: base64url (no padding) of
// {"v":"meta.k8s.io/v1","rv":N,"start":"<key after the prefix>"}. rv is
// the revision every page of the list reads at; -1 (only in the token a 410
// returns) means "continue at the latest revision". start is the last key
// returned, relative to the collection prefix; the next page starts after it.
type continueToken struct {
	Version string `json:"v"`
	RV      int64  `json:"rv"`
	Start   string `json:"start"`
}

const continueVersion = "meta.k8s.io/v1"

// encodeContinue returns the token for the page after key at revision rv.
func encodeContinue(rv int64, prefix, key string) string {
	b, _ := json.Marshal(continueToken{Version: continueVersion, RV: rv, Start: strings.TrimPrefix(key, prefix)})
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeContinue parses a token into its revision (-1: latest) and the full
// key to continue after. Every malformed token is 400 BadRequest.
func decodeContinue(tok, prefix string) (rv int64, after string, err error) {
	bad := func(why string) (int64, string, error) {
		return 0, "", apierrors.NewBadRequest(fmt.Sprintf("invalid continue token: %s", why))
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return bad("not base64url: " + err.Error())
	}
	var ct continueToken
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ct); err != nil {
		return bad("not a token: " + err.Error())
	}
	if dec.More() {
		return bad("trailing data")
	}
	switch {
	case ct.Version != continueVersion:
		return bad(fmt.Sprintf("unsupported version %q", ct.Version))
	case ct.RV == 0 || ct.RV < -1:
		return bad("incorrect encoded start resourceVersion")
	case ct.Start == "":
		return bad("empty start key")
	case strings.HasPrefix(ct.Start, "/") || path.Clean(ct.Start) != ct.Start || strings.Contains(ct.Start, ".."):
		return bad("start key is not a clean relative key")
	case strings.ContainsRune(ct.Start, 0):
		return bad("start key contains NUL")
	}
	return ct.RV, prefix + ct.Start, nil
}
