package server

import (
	"net/http"
	"strings"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

var groupVersionForDiscovery = metav1.GroupVersionForDiscovery{GroupVersion: groupVersion, Version: "v1"}

func apiGroup() metav1.APIGroup {
	return metav1.APIGroup{
		TypeMeta:         metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"},
		Name:             groupName,
		Versions:         []metav1.GroupVersionForDiscovery{groupVersionForDiscovery},
		PreferredVersion: groupVersionForDiscovery,
	}
}

// apiResourceList describes every resource and its status subresource.
func apiResourceList() *metav1.APIResourceList {
	l := &metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: groupVersion,
	}
	for _, r := range kunosv1.Resources {
		l.APIResources = append(l.APIResources, metav1.APIResource{
			Name:         r.GVR.Resource,
			SingularName: r.Singular,
			Namespaced:   r.Namespaced,
			Kind:         r.Kind,
			Verbs:        metav1.Verbs{"delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"},
			ShortNames:   r.ShortNames,
			Categories:   []string{"all", "kunos"},
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

func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, notFoundPath())
		return
	}
	switch strings.TrimSuffix(r.URL.Path, "/") {
	case "/api":
		writeJSON(w, http.StatusOK, &metav1.APIVersions{
			TypeMeta: metav1.TypeMeta{Kind: "APIVersions"},
			Versions: []string{},
			ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{
				{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host},
			},
		})
	case "/apis":
		writeJSON(w, http.StatusOK, &metav1.APIGroupList{
			TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"},
			Groups:   []metav1.APIGroup{apiGroup()},
		})
	case "/apis/" + groupName:
		g := apiGroup()
		writeJSON(w, http.StatusOK, &g)
	case "/apis/" + groupVersion:
		writeJSON(w, http.StatusOK, apiResourceList())
	default:
		writeError(w, notFoundPath())
	}
}
