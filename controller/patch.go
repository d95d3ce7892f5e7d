package controller

// This file computes merge patches. Invariant: applying the patch to
// before gives after (RFC 7386), so a write sends only what the caller
// changed and cannot undo a field another writer changed meanwhile.

import (
	"encoding/json"
	"errors"
	"fmt"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"

	"github.com/kunos-io/listwatch/cache"
)

// MergePatch returns the JSON merge patch (RFC 7386, content type
// types.MergePatchType) that turns before into after, for a client's Patch:
//
//	after := before.DeepCopy()
//	after.Labels["tier"] = "gold"
//	patch, err := controller.MergePatch(before, after)
//	_, err = jobs.Patch(ctx, after.Name, types.MergePatchType, patch, metav1.PatchOptions{})
//
// Unlike an Update, the patch carries no resourceVersion unless the caller
// changed it, so it never conflicts: it suits labels, annotations and
// fields this writer alone owns. Lists are replaced whole (merge patch has
// no list merging). Pass "status" as the subresource to patch the status.
// Objects are never changed.
func MergePatch[T cache.Object](before, after T) ([]byte, error) {
	if isNil(before) || isNil(after) {
		return nil, errors.New("controller: MergePatch: nil object")
	}
	b, err := json.Marshal(before)
	if err != nil {
		return nil, fmt.Errorf("controller: MergePatch: encode before: %w", err)
	}
	a, err := json.Marshal(after)
	if err != nil {
		return nil, fmt.Errorf("controller: MergePatch: encode after: %w", err)
	}
	p, err := jsonpatch.CreateMergePatch(b, a)
	if err != nil {
		return nil, fmt.Errorf("controller: MergePatch: %w", err)
	}
	return p, nil
}
