package server

import (
	"net/http"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
)

// Discovery answers the legacy (non-aggregated) documents. A client that
// asks for aggregated discovery (as=APIGroupDiscoveryList) gets plain
// application/json and falls back to these, as client-go does against
// servers without aggregated discovery.

func versionInfo() version.Info {
	return version.Info{
		Major: "1", Minor: "37", GitVersion: "v1.37.0-listwatch", GitCommit: "listwatch",
		GitTreeState: "clean", BuildDate: "2026-01-01T00:00:00Z", GoVersion: "go1.26", Compiler: "gc",
		Platform: "linux/amd64",
	}
}

func apiGroup(group string) metav1.APIGroup {
	g := metav1.APIGroup{TypeMeta: metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}, Name: group}
	for _, gv := range resources.gvs[group] {
		g.Versions = append(g.Versions, metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version})
	}
	g.PreferredVersion = g.Versions[0]
	return g
}

// apiResourceList describes every resource of gv and its status subresource.
func apiResourceList(gv schema.GroupVersion) *metav1.APIResourceList {
	l := &metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: gv.String(),
	}
	for _, r := range resources.resources(gv) {
		l.APIResources = append(l.APIResources, metav1.APIResource{
			Name:         r.GVR.Resource,
			SingularName: r.Singular,
			Namespaced:   r.Namespaced,
			Kind:         r.Kind,
			Verbs:        r.verbs(),
			ShortNames:   r.ShortNames,
			Categories:   r.Categories,
		})
		if r.HasStatus {
			l.APIResources = append(l.APIResources, metav1.APIResource{
				Name: r.GVR.Resource + "/status", Namespaced: r.Namespaced, Kind: r.Kind,
				Verbs: metav1.Verbs{"get", "patch", "update"},
			})
		}
	}
	return l
}

// serveDiscovery answers /api and /apis (kind pathNone), /apis/GROUP
// (pathGroup) and /api/v1, /apis/GROUP/VERSION (pathGroupVersion).
func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request, kind apiPathKind, gv schema.GroupVersion) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, notFoundPath())
		return
	}
	switch kind {
	case pathNone:
		if strings.TrimSuffix(r.URL.Path, "/") == "/api" {
			versions := []string{}
			for _, gv := range resources.gvs[""] {
				versions = append(versions, gv.Version)
			}
			writeJSON(w, http.StatusOK, &metav1.APIVersions{
				TypeMeta: metav1.TypeMeta{Kind: "APIVersions"},
				Versions: versions,
				ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{
					{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host},
				},
			})
			return
		}
		l := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}, Groups: []metav1.APIGroup{}}
		for _, g := range resources.groups {
			ag := apiGroup(g)
			ag.TypeMeta = metav1.TypeMeta{} // as kube-apiserver lists them
			l.Groups = append(l.Groups, ag)
		}
		writeJSON(w, http.StatusOK, l)
	case pathGroup:
		if gv.Group == "" || len(resources.gvs[gv.Group]) == 0 {
			writeError(w, notFoundPath())
			return
		}
		g := apiGroup(gv.Group)
		writeJSON(w, http.StatusOK, &g)
	case pathGroupVersion:
		if !resources.servesGV(gv) {
			writeError(w, notFoundPath())
			return
		}
		writeJSON(w, http.StatusOK, apiResourceList(gv))
	default:
		writeError(w, notFoundPath())
	}
}
