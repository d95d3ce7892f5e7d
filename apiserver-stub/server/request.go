package server

import (
	"net/http"
	"strings"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

const (
	groupName    = kunosv1.GroupName
	groupVersion = groupName + "/v1"
)

var groupResourceNone = schema.GroupResource{}

// requestInfo is what the path of a resource request names.
type requestInfo struct {
	res kunosv1.ResourceInfo
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

// parseResourcePath parses the part of the path after /apis/kunos.io/v1/:
//
//	[watch/]RESOURCE[/NAME[/status]]                      cluster-scoped, or all namespaces (collection only)
//	[watch/]namespaces/NS/RESOURCE[/NAME[/status]]        namespaced
//
// Anything else is a 404.
func parseResourcePath(rest string) (*requestInfo, error) {
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
		info, ok := kunosv1.ResourceFor(segs[0])
		if !ok || !info.Namespaced {
			return nil, notFoundPath()
		}
		ri.res = info
	} else {
		if len(segs) == 0 {
			return nil, notFoundPath()
		}
		info, ok := kunosv1.ResourceFor(segs[0])
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

// serveResource dispatches a kunos.io/v1 resource request by method and by
// whether it names a collection or an object.
func (s *Server) serveResource(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ri, err := parseResourcePath(strings.TrimPrefix(r.URL.Path, "/apis/"+groupVersion+"/"))
	if err != nil {
		code := writeError(w, err)
		s.metrics.observe(verbOf(r, nil), "", answeredCode(w, code), start)
		return
	}
	verb := verbOf(r, ri)
	var code int
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
	case "PUT":
		code = s.handleUpdate(w, r, ri)
	case "PATCH":
		code = s.handlePatch(w, r, ri)
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
		if collection && ri.subresource == "" && (ri.namespace != "" || !ri.res.Namespaced) {
			return "POST"
		}
	case http.MethodPut:
		if !collection {
			return "PUT"
		}
	case http.MethodPatch:
		if !collection {
			return "PATCH"
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
