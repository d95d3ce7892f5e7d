package client

import (
	"fmt"
	"net/url"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// listQuery encodes ListOptions as client-go does (metav1.ParameterCodec):
// empty values omitted, pointer fields present whenever set; url.Values
// sorts the keys when encoded. Hand-written because the reflective codec
// costs more than the rest of a watch request; a randomized test keeps
// the two identical.
func listQuery(o *metav1.ListOptions) url.Values {
	q := make(url.Values, 8)
	if o.LabelSelector != "" {
		q["labelSelector"] = []string{o.LabelSelector}
	}
	if o.FieldSelector != "" {
		q["fieldSelector"] = []string{o.FieldSelector}
	}
	if o.Watch {
		q["watch"] = []string{"true"}
	}
	if o.AllowWatchBookmarks {
		q["allowWatchBookmarks"] = []string{"true"}
	}
	if o.ResourceVersion != "" {
		q["resourceVersion"] = []string{o.ResourceVersion}
	}
	if o.ResourceVersionMatch != "" {
		q["resourceVersionMatch"] = []string{string(o.ResourceVersionMatch)}
	}
	if o.TimeoutSeconds != nil {
		q["timeoutSeconds"] = []string{strconv.FormatInt(*o.TimeoutSeconds, 10)}
	}
	if o.Limit != 0 {
		q["limit"] = []string{strconv.FormatInt(o.Limit, 10)}
	}
	if o.Continue != "" {
		q["continue"] = []string{o.Continue}
	}
	if o.SendInitialEvents != nil {
		q["sendInitialEvents"] = []string{strconv.FormatBool(*o.SendInitialEvents)}
	}
	if o.ShardSelector != "" {
		q["shardSelector"] = []string{o.ShardSelector}
	}
	return q
}

// optionsQuery encodes Get/Create/Update/Patch options with metav1's
// parameter codec, exactly as client-go does.
func optionsQuery(opts runtime.Object) (url.Values, error) {
	q, err := metav1.ParameterCodec.EncodeParameters(opts, metav1.SchemeGroupVersion)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", opts, err)
	}
	return q, nil
}

// addTimeout adds client-go's timeout=<duration> parameter for a
// non-watch request when Config.Timeout is set.
func (c *Client) addTimeout(q url.Values) url.Values {
	if c.timeout <= 0 {
		return q
	}
	if q == nil {
		q = url.Values{}
	}
	q.Set("timeout", c.timeout.String())
	return q
}
