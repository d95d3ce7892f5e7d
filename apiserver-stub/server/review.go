package server

// This file serves the self reviews: authorization.k8s.io/v1
// SelfSubjectAccessReview (kubectl auth can-i) and authentication.k8s.io/v1
// SelfSubjectReview (kubectl auth whoami). Invariants: a review is about
// the user who sends it, never anyone else; it stores nothing; its answer
// is the request with status filled in, 201 Created, as kube-apiserver
// answers.

import (
	"context"
	"net/http"
	"time"

	"github.com/kunos-io/listwatch/apis/kube"
	"github.com/kunos-io/listwatch/apiserver-stub/auth/authn"
	"github.com/kunos-io/listwatch/apiserver-stub/auth/authz"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The GVRs of the reviews, as package apis/kube describes them.
var (
	SelfSubjectAccessReviewsResource = kube.SelfSubjectAccessReviews.GVR
	SelfSubjectReviewsResource       = kube.SelfSubjectReviews.GVR
)

// ReviewContext is what a review may know of its request.
type ReviewContext struct {
	// User sent the review.
	User *authn.User
	// Authorizer is the server's.
	Authorizer authz.Authorizer
}

func reviewResources() []Resource {
	columns := []metav1.TableColumnDefinition{colName}
	ssar := ResourceOf(kube.SelfSubjectAccessReviews, Serving[*authorizationv1.SelfSubjectAccessReview]{Columns: columns,
		Cells: func(r *authorizationv1.SelfSubjectAccessReview, _ time.Time) []any { return []any{r.Name} }})
	ssar.Review = reviewAccess
	ssr := ResourceOf(kube.SelfSubjectReviews, Serving[*authenticationv1.SelfSubjectReview]{Columns: columns,
		Cells: func(r *authenticationv1.SelfSubjectReview, _ time.Time) []any { return []any{r.Name} }})
	ssr.Review = reviewSelf
	return []Resource{ssar, ssr}
}

// reviewAccess answers whether the sender may do what the spec says.
func reviewAccess(ctx context.Context, rc ReviewContext, obj runtime.Object) (runtime.Object, error) {
	in := obj.(*authorizationv1.SelfSubjectAccessReview)
	ra, nra := in.Spec.ResourceAttributes, in.Spec.NonResourceAttributes
	if (ra == nil) == (nra == nil) {
		return nil, apierrors.NewInvalid(authorizationv1.SchemeGroupVersion.WithKind("SelfSubjectAccessReview").GroupKind(), "",
			field.ErrorList{field.Invalid(field.NewPath("spec", "resourceAttributes"), in.Spec,
				"exactly one of nonResourceAttributes or resourceAttributes must be specified")})
	}
	a := authz.Attributes{User: rc.User}
	if ra != nil {
		a.ResourceRequest = true
		a.Verb, a.Namespace, a.APIGroup, a.APIVersion = ra.Verb, ra.Namespace, ra.Group, ra.Version
		a.Resource, a.Subresource, a.Name = ra.Resource, ra.Subresource, ra.Name
	} else {
		a.Verb, a.Path = nra.Verb, nra.Path
	}
	d, reason, err := rc.Authorizer.Authorize(ctx, a)
	in.Status = authorizationv1.SubjectAccessReviewStatus{Allowed: d == authz.Allow, Denied: d == authz.Deny, Reason: reason}
	if err != nil {
		in.Status.EvaluationError = err.Error()
	}
	in.CreationTimestamp = metav1.Now()
	return in, nil
}

// reviewSelf answers who the sender is.
func reviewSelf(_ context.Context, rc ReviewContext, obj runtime.Object) (runtime.Object, error) {
	in := obj.(*authenticationv1.SelfSubjectReview)
	u := rc.User
	info := authenticationv1.UserInfo{Username: u.Name, UID: u.UID, Groups: u.Groups}
	if len(u.Extra) > 0 {
		info.Extra = map[string]authenticationv1.ExtraValue{}
		for k, v := range u.Extra {
			info.Extra[k] = v
		}
	}
	in.Status = authenticationv1.SelfSubjectReviewStatus{UserInfo: info}
	in.CreationTimestamp = metav1.Now()
	return in, nil
}

// handleReview serves POST on a review.
func (s *Server) handleReview(w http.ResponseWriter, r *http.Request, ri *requestInfo) int {
	wr, err := s.decodeWrite(w, r, ri, parseCreateOptions)
	if err != nil {
		return writeError(w, err)
	}
	u, ok := authn.UserFrom(r.Context())
	if !ok {
		u = authn.AnonymousUser()
	}
	out, err := ri.res.Review(r.Context(), ReviewContext{User: u, Authorizer: s.authorizer}, wr.obj)
	if err != nil {
		return writeError(w, err)
	}
	out.GetObjectKind().SetGroupVersionKind(ri.res.GVK())
	addWarningsOnce(w, &wr.warnings)
	writeJSON(w, http.StatusCreated, out)
	return http.StatusCreated
}
