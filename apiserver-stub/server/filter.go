package server

// This file is the security filter every request passes before it is
// routed: authentication (401), authorization (403), then the audit
// record when the answer is complete. Invariants: nothing is decoded, read
// from or written to storage for a request before it is authorized; the
// authenticated user rides in the request's context (authn.UserFrom) for
// the handlers that need it (the self reviews); the filter never changes
// what an allowed request gets.

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/audit"
	"github.com/kunos-io/listwatch/apiserver-stub/auth/authn"
	"github.com/kunos-io/listwatch/apiserver-stub/auth/authz"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Authenticator finds who sent a request (authn.Chain is one). An error
// is answered 401 Unauthorized.
type Authenticator interface {
	Authenticate(r *http.Request) (*authn.User, error)
}

// filter authenticates, authorizes and audits r, and routes it if allowed.
func (s *Server) filter(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var rec *recorder
	if s.audit != nil {
		rec = &recorder{ResponseWriter: w}
		w = rec
	}
	var attrs authz.Attributes
	decision := ""
	defer func() {
		if rec != nil {
			s.auditLog(r, attrs, decision, rec.status(), start)
		}
	}()
	u := authn.AnonymousUser()
	if s.authenticator != nil {
		var err error
		if u, err = s.authenticator.Authenticate(r); err != nil {
			s.log.Debug("unauthorized", "url", r.URL.String(), "err", err)
			attrs = authz.RequestAttributes(r, nil)
			code := writeError(w, apierrors.NewUnauthorized("Unauthorized"))
			s.observeRefused(attrs, code, start)
			return
		}
	}
	attrs = authz.RequestAttributes(r, u)
	d, reason, err := s.authorizer.Authorize(r.Context(), attrs)
	if d != authz.Allow {
		decision = "forbid"
		if err != nil {
			s.log.Warn("authorization error", "user", u.Name, "url", r.URL.String(), "err", err)
		}
		code := writeError(w, forbidden(attrs, reason))
		s.observeRefused(attrs, code, start)
		return
	}
	decision = "allow"
	r = r.WithContext(authn.WithUser(r.Context(), u))
	s.route(w, r)
}

// forbidden is kube-apiserver's 403 for attributes a.
func forbidden(a authz.Attributes, reason string) error {
	msg := authz.ForbiddenMessage(a)
	if reason != "" {
		msg += ": " + reason
	}
	if !a.ResourceRequest {
		return apierrors.NewForbidden(schema.GroupResource{}, "", errors.New(msg))
	}
	return apierrors.NewForbidden(schema.GroupResource{Group: a.APIGroup, Resource: a.Resource}, a.Name, errors.New(msg))
}

// observeRefused counts a 401 or 403 in apiserver_request_total, with the
// resource label only for a served resource (labels stay bounded).
func (s *Server) observeRefused(a authz.Attributes, code int, start time.Time) {
	resource := ""
	if a.ResourceRequest {
		if _, ok := resources.lookup(schema.GroupVersion{Group: a.APIGroup, Version: a.APIVersion}, a.Resource); ok {
			resource = a.Resource
		}
	}
	verb := strings.ToUpper(a.Verb)
	switch a.Verb {
	case "create":
		verb = "POST"
	case "update":
		verb = "PUT"
	case "get", "list", "watch", "patch", "delete", "deletecollection":
	default:
		verb = "UNKNOWN"
	}
	s.metrics.observe(verb, resource, code, start)
}

func (s *Server) auditLog(r *http.Request, a authz.Attributes, decision string, code int, start time.Time) {
	e := &audit.Event{
		Time: start.UTC(), Verb: a.Verb, APIGroup: a.APIGroup, APIVersion: a.APIVersion,
		Resource: a.Resource, Subresource: a.Subresource, Namespace: a.Namespace, Name: a.Name,
		Code: code, Decision: decision, LatencySeconds: time.Since(start).Seconds(),
	}
	if !a.ResourceRequest {
		e.Path = a.Path
	}
	if a.User != nil {
		e.User, e.UID, e.Groups = a.User.Name, a.User.UID, a.User.Groups
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		e.SourceIP = host
	}
	s.audit.Log(e)
}

// recorder remembers the status code of a response for the audit log. It
// passes Flush, Hijack and Unwrap through, so watches (chunked and
// WebSocket) work as without it.
type recorder struct {
	http.ResponseWriter
	code     int
	hijacked bool
}

func (rw *recorder) WriteHeader(code int) {
	if rw.code == 0 {
		rw.code = code
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recorder) Write(b []byte) (int, error) {
	if rw.code == 0 {
		rw.code = http.StatusOK
	}
	return rw.ResponseWriter.Write(b)
}

func (rw *recorder) Flush() {
	if rw.code == 0 {
		rw.code = http.StatusOK
	}
	_ = http.NewResponseController(rw.ResponseWriter).Flush()
}

func (rw *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, b, err := http.NewResponseController(rw.ResponseWriter).Hijack()
	if err == nil {
		rw.hijacked = true
	}
	return c, b, err
}

func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

func (rw *recorder) status() int {
	switch {
	case rw.code != 0:
		return rw.code
	case rw.hijacked:
		return http.StatusSwitchingProtocols
	}
	return http.StatusOK
}
