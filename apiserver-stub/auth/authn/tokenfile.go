package authn

// This file parses and serves kube-apiserver's static token file.
// Invariant: a TokenFile is immutable once built; a token maps to exactly
// one User (a later line with the same token replaces an earlier one, as
// in kube-apiserver, and the duplicate is reported).

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// TokenFile authenticates bearer tokens listed in a token file.
type TokenFile struct {
	tokens map[string]*User
}

// ParseTokenFile reads kube's token file format: CSV, one token per line,
// "token,user,uid[,\"group1,group2\"]"; further columns are ignored. Lines
// with an empty token are skipped; fewer than three columns, an empty user
// name or malformed CSV is an error naming the line. Duplicates are
// returned as warnings.
func ParseTokenFile(r io.Reader) (*TokenFile, []string, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = false
	tf := &TokenFile{tokens: map[string]*User{}}
	var warnings []string
	for n := 1; ; n++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return tf, warnings, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("token file: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) < 3 {
			return nil, nil, fmt.Errorf("token file: line %d: want at least 3 columns (token, user name, user uid), found %d", line, len(rec))
		}
		if rec[0] == "" {
			warnings = append(warnings, fmt.Sprintf("token file: line %d: empty token, skipped", line))
			continue
		}
		if rec[1] == "" {
			return nil, nil, fmt.Errorf("token file: line %d: empty user name", line)
		}
		u := &User{Name: rec[1], UID: rec[2]}
		if len(rec) >= 4 {
			for _, g := range strings.Split(rec[3], ",") {
				if g = strings.TrimSpace(g); g != "" {
					u.Groups = append(u.Groups, g)
				}
			}
		}
		if _, dup := tf.tokens[rec[0]]; dup {
			warnings = append(warnings, fmt.Sprintf("token file: line %d: duplicate token, this line wins", line))
		}
		tf.tokens[rec[0]] = u
	}
}

// LoadTokenFile reads the token file at path (see ParseTokenFile).
func LoadTokenFile(path string) (*TokenFile, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("token file: %w", err)
	}
	defer f.Close()
	tf, w, err := ParseTokenFile(f)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return tf, w, nil
}

// Len returns the number of tokens.
func (tf *TokenFile) Len() int { return len(tf.tokens) }

// AuthenticateToken returns the user of token, if listed.
func (tf *TokenFile) AuthenticateToken(token string) (*User, bool) {
	u, ok := tf.tokens[token]
	return u, ok
}

// Authenticate implements Authenticator for the request's bearer token.
func (tf *TokenFile) Authenticate(r *http.Request) (*User, bool, error) {
	tok, ok := BearerToken(r)
	if !ok {
		return nil, false, nil
	}
	u, found := tf.AuthenticateToken(tok)
	if !found {
		return nil, false, errors.New("invalid bearer token")
	}
	return u, true, nil
}
