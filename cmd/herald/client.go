package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/heraldevents/herald/internal/server"
)

// client calls a Herald server's HTTP API.
type client struct {
	base    string // e.g. http://127.0.0.1:7440, no trailing slash
	http    *http.Client
	token   string                 // sent as "Authorization: Bearer TOKEN" when set
	tlsHint atomic.Pointer[string] // why a server may refuse the client's TLS handshake (watchCertRequests)
}

// newClient returns a client of the server at base; over https it uses
// tlsConfig (nil: the system's CAs, no client certificate).
func newClient(base string, hc *http.Client, tlsConfig *tls.Config) (*client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--server %q: want a URL such as %s", base, defaultServer)
	}
	if strings.ContainsAny(base, "?#") { // the API paths go after it
		return nil, fmt.Errorf("--server %q: want a URL with no query or fragment, such as %s", base, defaultServer)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	c := &client{base: strings.TrimRight(base, "/"), http: hc}
	if u.Scheme == "https" {
		c.http = withTLS(hc, c.watchCertRequests(tlsConfig))
	}
	return c, nil
}

// problemError is an error reply of the server (application/problem+json).
type problemError struct {
	server.Problem
}

func (e *problemError) Error() string {
	return e.Detail + " (" + e.Code + ")"
}

// response is a successful reply.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request and returns the reply, or an error for a failed
// request or an error status.
func (c *client) do(ctx context.Context, method, path string, header http.Header, body []byte) (*response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	c.tlsHint.Store(nil) // the server took the handshake: a later failure is not the certificate's
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the reply: %w", method, path, err)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		return nil, c.unauthorized(replyError(resp, b))
	}
	if resp.StatusCode >= 400 {
		return nil, replyError(resp, b)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// unauthorized adds to a 401 how the CLI sends a token: in HERALD_TOKEN.
func (c *client) unauthorized(err error) error {
	if c.token == "" {
		return fmt.Errorf("%w; the CLI sends the token in HERALD_TOKEN, which is not set", err)
	}
	return fmt.Errorf("%w; the CLI sent the token in HERALD_TOKEN, which the server does not accept", err)
}

func (c *client) transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("cannot reach the Herald server at %s: %w (%s)", c.base, err, c.reachHint(err))
}

// reachHint says what may fix a request that did not reach the server.
func (c *client) reachHint(err error) string {
	var ve *tls.CertificateVerificationError
	if errors.As(err, &ve) {
		return "give the CA that signed the server's certificate with --ca-file or HERALD_CA_FILE"
	}
	if hint := c.tlsHint.Load(); hint != nil {
		return *hint
	}
	return "is `herald serve` running? set --server or HERALD_SERVER"
}

// registryError is an error reply of the schema registry API.
type registryError struct {
	server.RegistryError
}

func (e *registryError) Error() string {
	return fmt.Sprintf("%s (error %d)", e.Message, e.ErrorCode)
}

// replyError turns an error reply into an error, decoding problem details
// (or the schema registry's error body).
func replyError(resp *http.Response, body []byte) error {
	var p problemError
	ct := resp.Header.Get("Content-Type")
	if strings.HasPrefix(ct, "application/problem+json") &&
		json.Unmarshal(body, &p.Problem) == nil && p.Code != "" {
		return &p
	}
	var re registryError
	if strings.HasPrefix(ct, "application/vnd.schemaregistry") &&
		json.Unmarshal(body, &re.RegistryError) == nil && re.ErrorCode != 0 {
		return &re
	}
	text := strings.TrimSpace(string(body))
	if len(text) > 200 {
		text = text[:200] + "..."
	}
	return fmt.Errorf("the server replied %s: %s", resp.Status, text)
}

// getJSON GETs path and decodes the JSON reply into out.
func (c *client) getJSON(ctx context.Context, path string, out any) error {
	resp, err := c.do(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return err
	}
	return decodeReply(resp.body, out)
}

// sendJSON sends v as JSON and decodes the reply into out (if not nil).
func (c *client) sendJSON(ctx context.Context, method, path string, v, out any) (*response, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, method, path, http.Header{"Content-Type": {"application/json"}}, body)
	if err != nil || out == nil {
		return resp, err
	}
	return resp, decodeReply(resp.body, out)
}

func decodeReply(body []byte, out any) error {
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("unexpected reply from the server: %w", err)
	}
	return nil
}

// registryPath is the path of a schema registry resource: the parts
// joined with "/", each escaped.
func registryPath(parts ...string) string {
	var b strings.Builder
	b.WriteString(server.RegistryPrefix)
	for _, p := range parts {
		b.WriteString("/" + pathSegment(p))
	}
	return b.String()
}

// pathSegment escapes a name for one segment of a path. A name of dots
// goes as %2E too: a bare "." or ".." would be cleaned out of the path by
// the server's router, which redirects (with the same method) to what is
// left, so `subs delete orders ..` would delete the topic.
func pathSegment(name string) string {
	if name == "." || name == ".." {
		return strings.ReplaceAll(name, ".", "%2E")
	}
	return url.PathEscape(name)
}

// topicPath is the API path of a topic, with the name escaped.
func topicPath(name string, rest ...string) string {
	return "/v1/topics/" + pathSegment(name) + strings.Join(rest, "")
}
