package rbac_test

import (
	"context"
	"testing"

	"github.com/kunos-io/listwatch/apiserver-stub/auth/authn"
	"github.com/kunos-io/listwatch/apiserver-stub/auth/authz"
	"github.com/kunos-io/listwatch/apiserver-stub/auth/rbac"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestRuleAllows(t *testing.T) {
	res := func(verb, group, resource, sub, name string) authz.Attributes {
		return authz.Attributes{ResourceRequest: true, Verb: verb, APIGroup: group, Resource: resource, Subresource: sub, Name: name}
	}
	path := func(verb, p string) authz.Attributes { return authz.Attributes{Verb: verb, Path: p} }
	rule := func(verbs, groups, resources, names, urls []string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{Verbs: verbs, APIGroups: groups, Resources: resources, ResourceNames: names, NonResourceURLs: urls}
	}
	s := func(v ...string) []string { return v }
	for _, c := range []struct {
		name string
		rule rbacv1.PolicyRule
		a    authz.Attributes
		want bool
	}{
		{"exact", rule(s("get"), s("kunos.io"), s("tasks"), nil, nil), res("get", "kunos.io", "tasks", "", "x"), true},
		{"other verb", rule(s("get"), s("kunos.io"), s("tasks"), nil, nil), res("list", "kunos.io", "tasks", "", ""), false},
		{"other group", rule(s("get"), s("kunos.io"), s("tasks"), nil, nil), res("get", "", "tasks", "", "x"), false},
		{"verb *", rule(s("*"), s("kunos.io"), s("tasks"), nil, nil), res("deletecollection", "kunos.io", "tasks", "", ""), true},
		{"group *", rule(s("get"), s("*"), s("tasks"), nil, nil), res("get", "x.io", "tasks", "", "a"), true},
		{"resource *", rule(s("get"), s("kunos.io"), s("*"), nil, nil), res("get", "kunos.io", "tasks", "status", "a"), true},
		{"no subresource by resource", rule(s("update"), s("kunos.io"), s("tasks"), nil, nil), res("update", "kunos.io", "tasks", "status", "a"), false},
		{"subresource", rule(s("update"), s("kunos.io"), s("tasks/status"), nil, nil), res("update", "kunos.io", "tasks", "status", "a"), true},
		{"subresource not resource", rule(s("update"), s("kunos.io"), s("tasks/status"), nil, nil), res("update", "kunos.io", "tasks", "", "a"), false},
		{"*/subresource", rule(s("get"), s("kunos.io"), s("*/status"), nil, nil), res("get", "kunos.io", "jobs", "status", "a"), true},
		{"resourceNames", rule(s("get"), s("kunos.io"), s("tasks"), s("a"), nil), res("get", "kunos.io", "tasks", "", "a"), true},
		{"resourceNames other", rule(s("get"), s("kunos.io"), s("tasks"), s("a"), nil), res("get", "kunos.io", "tasks", "", "b"), false},
		{"resourceNames no name", rule(s("list"), s("kunos.io"), s("tasks"), s("a"), nil), res("list", "kunos.io", "tasks", "", ""), false},
		{"url", rule(s("get"), nil, nil, nil, s("/healthz")), path("get", "/healthz"), true},
		{"url prefix", rule(s("get"), nil, nil, nil, s("/apis/*")), path("get", "/apis/kunos.io/v1"), true},
		{"url prefix not", rule(s("get"), nil, nil, nil, s("/apis/*")), path("get", "/api"), false},
		{"url *", rule(s("get"), nil, nil, nil, s("*")), path("get", "/x"), true},
		{"url rule no resource", rule(s("*"), nil, nil, nil, s("*")), res("get", "kunos.io", "tasks", "", "a"), false},
		{"resource rule no url", rule(s("*"), s("*"), s("*"), nil, nil), path("get", "/api"), false},
	} {
		if got := rbac.RuleAllows(c.a, &c.rule); got != c.want {
			t.Errorf("%s: got %v", c.name, got)
		}
	}
}

func TestAuthorizer(t *testing.T) {
	roles, bindings := rbac.Bootstrap()
	src := &rbac.StaticSource{ClusterRoles: roles, ClusterRoleBindings: bindings}
	src.Roles = append(src.Roles, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "task-reader"},
		Rules:      []rbacv1.PolicyRule{{Verbs: []string{"get", "list", "watch"}, APIGroups: []string{"kunos.io"}, Resources: []string{"tasks"}}},
	})
	subject := func(kind, name, ns string) rbacv1.Subject {
		s := rbacv1.Subject{Kind: kind, Name: name, Namespace: ns}
		if kind != rbacv1.ServiceAccountKind {
			s.APIGroup = rbacv1.GroupName
		}
		return s
	}
	src.RoleBindings = append(src.RoleBindings,
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "bob-reads"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "task-reader"},
			Subjects: []rbacv1.Subject{subject(rbacv1.UserKind, "bob", "")}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "devs-edit"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"},
			Subjects: []rbacv1.Subject{subject(rbacv1.GroupKind, "devs", ""), subject(rbacv1.ServiceAccountKind, "ci", "")}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "team-c", Name: "dangling"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "missing"},
			Subjects: []rbacv1.Subject{subject(rbacv1.UserKind, "bob", "")}},
	)
	az := rbac.New(src)
	bob := &authn.User{Name: "bob", Groups: []string{authn.AllAuthenticated}}
	dev := &authn.User{Name: "dana", Groups: []string{"devs", authn.AllAuthenticated}}
	ci := &authn.User{Name: "system:serviceaccount:team-b:ci", Groups: []string{authn.AllAuthenticated}}
	root := &authn.User{Name: "root", Groups: []string{authn.SystemPrivilegedGroup}}
	anon := authn.AnonymousUser()
	tasks := func(u *authn.User, verb, ns, sub string) authz.Attributes {
		return authz.Attributes{User: u, ResourceRequest: true, Verb: verb, APIGroup: "kunos.io", Resource: "tasks", Namespace: ns, Subresource: sub}
	}
	path := func(u *authn.User, p string) authz.Attributes { return authz.Attributes{User: u, Verb: "get", Path: p} }
	for _, c := range []struct {
		name    string
		a       authz.Attributes
		want    bool
		wantErr bool
	}{
		{"bob lists team-a", tasks(bob, "list", "team-a", ""), true, false},
		{"bob watches team-a", tasks(bob, "watch", "team-a", ""), true, false},
		{"bob creates in team-a", tasks(bob, "create", "team-a", ""), false, false},
		{"bob lists team-b", tasks(bob, "list", "team-b", ""), false, false},
		{"bob lists all namespaces", tasks(bob, "list", "", ""), false, false},
		{"bob in team-c: dangling role reported", tasks(bob, "list", "team-c", ""), false, true},
		{"dev edits team-b", tasks(dev, "create", "team-b", ""), true, false},
		{"dev updates status in team-b", tasks(dev, "update", "team-b", "status"), true, false},
		{"dev in team-a", tasks(dev, "get", "team-a", ""), false, false},
		{"service account edits team-b", tasks(ci, "delete", "team-b", ""), true, false},
		{"root anything", tasks(root, "deletecollection", "", ""), true, false},
		{"root paths", path(root, "/metrics"), true, false},
		{"bob discovery", path(bob, "/apis/kunos.io/v1"), true, false},
		{"anonymous discovery", path(anon, "/apis"), false, false},
		{"anonymous healthz", path(anon, "/healthz"), true, false},
		{"anonymous tasks", tasks(anon, "list", "team-a", ""), false, false},
		{"bob self review", authz.Attributes{User: bob, ResourceRequest: true, Verb: "create", APIGroup: "authorization.k8s.io", Resource: "selfsubjectaccessreviews"}, true, false},
	} {
		d, reason, err := az.Authorize(context.Background(), c.a)
		if (d == authz.Allow) != c.want || (err != nil) != c.wantErr {
			t.Errorf("%s: decision %v reason %q err %v", c.name, d, reason, err)
		}
	}
	rules, errs := az.RulesFor(context.Background(), bob, "team-a")
	if len(errs) != 0 || len(rules) == 0 {
		t.Fatalf("RulesFor: %v %v", rules, errs)
	}
}
