package deepvue

import (
	"context"
	"net/http"

	"github.com/hashicorp/go-retryablehttp"
)

// contentTypeJSON is the Content-Type Deepvue's documented calls send
// (with no body).
var contentTypeJSON = []string{"application/json"}

// newRequest is the story's build step: the POST to the call's endpoint,
// its query from the checked input, the credentials' headers and the
// guarded context ctx.
func (c *Client) newRequest(ctx context.Context, cl *call) (*retryablehttp.Request, error) {
	creds := c.creds()
	cl.url = *cl.endpoint
	cl.url.RawQuery = cl.in.query()
	hreq := &http.Request{
		Method:     http.MethodPost,
		URL:        &cl.url,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Host:       cl.url.Host,
		Header: http.Header{
			"Client-Id":    creds.idHeader,
			"X-Api-Key":    creds.keyHdr,
			"User-Agent":   c.userAgent,
			"Content-Type": contentTypeJSON,
		},
	}
	return retryablehttp.FromRequest(hreq.WithContext(ctx))
}
