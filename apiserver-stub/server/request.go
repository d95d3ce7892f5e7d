package server

import (
	"net/http"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var groupResourceNone = schema.GroupResource{}

// requestInfo is what the path of a resource request names.
type requestInfo struct {
	res *Resource
	// namespace is the namespace of the path; "" for cluster-scoped
	// resources and for all-namespaces collections.
	namespace   string
	name        string
	subresource string // "" or "status"
	// forceWatch is set by the legacy /watch/ path prefix.
	forceWatch bool
}

func (ri *requestInfo) gr() schema.GroupResource { return ri.res.GVR.GroupResource() }

func (ri *requestInfo) gk() schema.GroupKind { return ri.res.GVK().GroupKind() }

// prefix is the storage key prefix of the collection the request names.
func (ri *requestInfo) prefix() string {
	p := "/" + ri.res.GVR.Resource + "/"
	if ri.namespace != "" {
		p += ri.namespace + "/"
	}
	return p
}

// key is the storage key of the named object.
func (ri *requestInfo) key(name string) string {
	if ri.res.Namespaced {
		return "/" + ri.res.GVR.Resource + "/" + ri.namespace + "/" + name
	}
	return "/" + ri.res.GVR.Resource + "/" + name
}

// What an API path names (see parseAPIPath).
type apiPathKind int

const (
	pathNone         apiPathKind = iota // not an API path
	pathGroup                           // /apis/GROUP: the group's discovery document
	pathGroupVersion                    // /api/v1, /apis/GROUP/VERSION: its resource list
	pathResource                        // below a group/version: a resource request
)

// parseAPIPath splits p into the group/version it addresses and the rest
// (for pathResource): /api/v1/REST is the core group, /apis/GROUP/VERSION/REST
// a named one. /api and /apis themselves are pathNone (served apart).
func parseAPIPath(p string) (apiPathKind, schema.GroupVersion, string) {
	var segs []string
	if rest, ok := strings.CutPrefix(p, "/api/"); ok {
		v, rest, _ := strings.Cut(rest, "/")
		if v == "" {
			return pathNone, schema.GroupVersion{}, ""
		}
		segs = []string{"", v, rest}
	} else if rest, ok := strings.CutPrefix(p, "/apis/"); ok {
		g, rest, _ := strings.Cut(rest, "/")
		if g == "" {
			return pathNone, schema.GroupVersion{}, ""
		}
		v, rest, _ := strings.Cut(rest, "/")
		if v == "" {
			return pathGroup, schema.GroupVersion{Group: g}, ""
		}
		segs = []string{g, v, rest}
	} else {
		return pathNone, schema.GroupVersion{}, ""
	}
	gv := schema.GroupVersion{Group: segs[0], Version: segs[1]}
	if segs[2] == "" {
		return pathGroupVersion, gv, ""
	}
	return pathResource, gv, segs[2]
}

// parseResourcePath parses the part of the path after /api/v1/ or
// /apis/GROUP/VERSION/ for the resources of gv:
//
//	[watch/]RESOURCE[/NAME[/status]]                      cluster-scoped, or all namespaces (collection only)
//	[watch/]namespaces/NS/RESOURCE[/NAME[/status]]        namespaced
//
// Anything else is a 404.
func parseResourcePath(gv schema.GroupVersion, rest string) (*requestInfo, error) {
	segs := strings.Split(rest, "/")
	if len(segs) > 0 && segs[len(segs)-1] == "" {
		segs = segs[:len(segs)-1] // tolerate one trailing slash
	}
	for _, s := range segs {
		if s == "" || s == "." || s == ".." {
			return nil, notFoundPath()
		}
	}
	ri := &requestInfo{}
	if len(segs) > 0 && segs[0] == "watch" {
		ri.forceWatch = true
		segs = segs[1:]
	}
	if len(segs) >= 3 && segs[0] == "namespaces" {
		ri.namespace = segs[1]
		segs = segs[2:]
		info, ok := resources.lookup(gv, segs[0])
		if !ok || !info.Namespaced {
			return nil, notFoundPath()
		}
		ri.res = info
	} else {
		if len(segs) == 0 {
			return nil, notFoundPath()
		}
		info, ok := resources.lookup(gv, segs[0])
		if !ok {
			return nil, notFoundPath()
		}
		ri.res = info
		if info.Namespaced && len(segs) > 1 {
			// A namespaced object needs its namespace in the path.
			return nil, notFoundPath()
		}
	}
	switch len(segs) {
	case 1:
	case 2:
		ri.name = segs[1]
	case 3:
		ri.name = segs[1]
		if segs[2] != "status" || !ri.res.HasStatus {
			return nil, notFoundPath()
		}
		ri.subresource = "status"
	default:
		return nil, notFoundPath()
	}
	if ri.forceWatch && ri.name != "" {
		return nil, notFoundPath()
	}
	return ri, nil
}

// serveResource dispatches a resource request (rest is the path after its
// group/version) by method and by whether it names a collection or an
// object.
func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, gv schema.GroupVersion, rest string) {
	start := time.Now()
	ri, err := parseResourcePath(gv, rest)
	if err != nil {
		code := writeError(w, err)
		s.metrics.observe(verbOf(r, nil), "", answeredCode(w, code), start)
		return
	}
	verb := verbOf(r, ri)
	var code int
	if !ri.res.Stored() {
		// A review: create is its only verb.
		if verb == "POST" {
			code = s.handleReview(w, r, ri)
		} else {
			code = writeError(w, apierrors.NewMethodNotSupported(ri.gr(), methodAction(r, ri)))
		}
		code = answeredCode(w, code)
		s.metrics.observe(verb, ri.res.GVR.Resource, code, start)
		return
	}
	switch verb {
	case "WATCH":
		s.log.Debug("watch start", "url", r.URL.String(), "websocket", isWebSocket(r))
		code = s.handleWatch(w, r, ri)
		s.metrics.observe(verb, ri.res.GVR.Resource, code, time.Time{})
		s.log.Debug("watch end", "url", r.URL.String(), "code", code, "duration", time.Since(start))
		return
	case "LIST":
		code = s.handleList(w, r, ri)
	case "GET":
		code = s.handleGet(w, r, ri)
	case "POST":
		code = s.handleCreate(w, r, ri)
	case "PUT", "PATCH":
		switch {
		case ri.name == "":
			// An update or patch of a collection: kube-apiserver routes PUT
			// and PATCH by method (verbs update and patch), and their
			// handlers refuse a path without a name (handlers/rest.go's
			// errEmptyName).
			code = writeError(w, apierrors.NewBadRequest("name must be provided"))
		case verb == "PUT":
			code = s.handleUpdate(w, r, ri)
		default:
			code = s.handlePatch(w, r, ri)
		}
	case "DELETE":
		code = s.handleDelete(w, r, ri)
	case "DELETECOLLECTION":
		code = s.handleDeleteCollection(w, r, ri)
	default:
		code = writeError(w, apierrors.NewMethodNotSupported(ri.gr(), methodAction(r, ri)))
	}
	code = answeredCode(w, code)
	s.metrics.observe(verb, ri.res.GVR.Resource, code, start)
	s.log.Debug("request", "verb", verb, "url", r.URL.String(), "code", code, "duration", time.Since(start))
}

// verbOf names the request's verb as kube-apiserver's metrics do; "" when
// the method does not apply to what the path names.
func verbOf(r *http.Request, ri *requestInfo) string {
	if ri == nil {
		return "UNKNOWN"
	}
	collection := ri.name == ""
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if collection {
			if ri.forceWatch || isWatch(r) {
				return "WATCH"
			}
			return "LIST"
		}
		return "GET"
	case http.MethodPost:
		// A custom resource takes POST on an object's path as a create:
		// kube-apiserver's CRD handler routes by method (verb create), and
		// its create stores the body's name, not the path's. Kinds from
		// k8s.io/api have go-restful routes there, with no POST on an
		// object (405).
		if ri.subresource == "" && (ri.namespace != "" || !ri.res.Namespaced) && (collection || ri.res.custom()) {
			return "POST"
		}
	case http.MethodPut, http.MethodPatch:
		// Of a custom resource's collection too: serveResource answers
		// that a name is needed, as the CRD handler does.
		if !collection || ri.res.custom() {
			return r.Method
		}
	case http.MethodDelete:
		if ri.subresource == "" {
			if !collection {
				return "DELETE"
			}
			if ri.namespace != "" || !ri.res.Namespaced {
				return "DELETECOLLECTION"
			}
		}
	}
	return "UNSUPPORTED"
}

func methodAction(r *http.Request, ri *requestInfo) string {
	if r.Method == http.MethodDelete && ri.name == "" {
		return "deletecollection"
	}
	return strings.ToLower(r.Method)
}

// isWatch reports ?watch= as kube-apiserver reads it (requestinfo.go and
// the meta.k8s.io parameter conversion): present and not "0" or "false".
func isWatch(r *http.Request) bool { return queryBool(r.URL.Query(), "watch") }
