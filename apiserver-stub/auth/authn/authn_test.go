package authn_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/kunos-io/listwatch/apiserver-stub/auth/authn"
	"github.com/kunos-io/listwatch/apiserver-stub/certs"
)

func TestParseTokenFile(t *testing.T) {
	tf, warnings, err := authn.ParseTokenFile(strings.NewReader(
		"tok1,alice,u1,\"g1, g2\"\n" +
			"tok2,bob,u2\n" +
			"\n" +
			",nobody,u3\n" +
			"tok1,alice2,u4,g3,extra-column\n"))
	if err != nil {
		t.Fatal(err)
	}
	if tf.Len() != 2 || len(warnings) != 2 {
		t.Fatalf("tokens %d warnings %q", tf.Len(), warnings)
	}
	u, ok := tf.AuthenticateToken("tok1")
	if !ok || !reflect.DeepEqual(u, &authn.User{Name: "alice2", UID: "u4", Groups: []string{"g3"}}) {
		t.Fatalf("tok1: %+v", u)
	}
	u, ok = tf.AuthenticateToken("tok2")
	if !ok || u.Name != "bob" || u.UID != "u2" || len(u.Groups) != 0 {
		t.Fatalf("tok2: %+v", u)
	}
	for _, bad := range []string{"tok,alice\n", "tok,,uid\n", "tok,\"alice,uid\n"} {
		if _, _, err := authn.ParseTokenFile(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// FuzzParseTokenFile: never panics; every token it accepts maps to a user
// with a name, and groups without blanks.
func FuzzParseTokenFile(f *testing.F) {
	f.Add("tok1,alice,u1,\"g1,g2\"\ntok2,bob,u2\n")
	f.Add("\"a\"\"b\",c,d,\"\"\n")
	f.Add(",,,\n")
	f.Fuzz(func(t *testing.T, s string) {
		tf, _, err := authn.ParseTokenFile(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, line := range strings.Split(s, "\n") {
			tok, _, _ := strings.Cut(line, ",")
			if u, ok := tf.AuthenticateToken(tok); ok {
				if u.Name == "" {
					t.Fatalf("token %q: empty user", tok)
				}
				for _, g := range u.Groups {
					if g == "" || strings.TrimSpace(g) != g {
						t.Fatalf("token %q: group %q", tok, g)
					}
				}
			}
		}
	})
}

func TestBearerToken(t *testing.T) {
	for _, c := range []struct {
		hdr, proto, want string
		ok               bool
	}{
		{hdr: "Bearer abc", want: "abc", ok: true},
		{hdr: "bearer  abc ", want: "abc", ok: true},
		{hdr: "Basic abc"},
		{hdr: "Bearer "},
		{proto: "base64url.bearer.authorization.k8s.io." + base64.RawURLEncoding.EncodeToString([]byte("xyz")) + ", other", want: "xyz", ok: true},
		{proto: "base64url.bearer.authorization.k8s.io.!!"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if c.hdr != "" {
			r.Header.Set("Authorization", c.hdr)
		}
		if c.proto != "" {
			r.Header.Set("Sec-WebSocket-Protocol", c.proto)
		}
		got, ok := authn.BearerToken(r)
		if got != c.want || ok != c.ok {
			t.Errorf("%+v: %q %v", c, got, ok)
		}
	}
}

func TestChain(t *testing.T) {
	ca, err := certs.NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := certs.NewCA("other-ca")
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	tf, _, _ := authn.ParseTokenFile(strings.NewReader("good,bob,42,devs\n"))
	chain := authn.New(authn.Options{ClientCert: authn.NewX509(pool), Tokens: tf, Anonymous: true})
	strict := authn.New(authn.Options{Tokens: tf})

	withCert := func(r *http.Request, ca *certs.CA, user string, groups ...string) *http.Request {
		p, err := ca.IssueClient(user, groups)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := certs.ParseCert(p.CertPEM)
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}}
		return r
	}
	req := func(token string) *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		return r
	}
	for _, c := range []struct {
		name  string
		chain *authn.Chain
		r     *http.Request
		want  *authn.User
	}{
		{"token", chain, req("good"), &authn.User{Name: "bob", UID: "42", Groups: []string{"devs", authn.AllAuthenticated}}},
		{"bad token", chain, req("bad"), nil},
		{"anonymous", chain, req(""), authn.AnonymousUser()},
		{"anonymous disabled", strict, req(""), nil},
		{"cert", chain, withCert(req(""), ca, "carol", "system:masters"), &authn.User{Name: "carol", Groups: []string{"system:masters", authn.AllAuthenticated}}},
		{"cert beats bad token", chain, withCert(req("bad"), ca, "carol"), &authn.User{Name: "carol", Groups: []string{authn.AllAuthenticated}}},
		{"untrusted cert", chain, withCert(req(""), other, "mallory"), nil},
		{"untrusted cert, good token", chain, withCert(req("good"), other, "mallory"), &authn.User{Name: "bob", UID: "42", Groups: []string{"devs", authn.AllAuthenticated}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			u, err := c.chain.Authenticate(c.r)
			if c.want == nil {
				if !errors.Is(err, authn.ErrUnauthorized) {
					t.Fatalf("want Unauthorized, got %+v %v", u, err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(u, c.want) {
				t.Fatalf("got %+v %v, want %+v", u, err, c.want)
			}
		})
	}
	// The shared user of the token file is not changed by the chain.
	if u, _ := tf.AuthenticateToken("good"); len(u.Groups) != 1 {
		t.Fatalf("token file user changed: %+v", u)
	}
}
