package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/heraldevents/herald/internal/auth"
	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/rpc/heraldv1"
	"github.com/heraldevents/herald/internal/rpc/heraldv1/heraldv1connect"
)

// Tokens of the authorization tests: one may do everything, one may do
// everything but only on topics "other*", and one is unknown.
const (
	adminToken = "admin-s3cret"
	otherToken = "other-s3cret"
	wrongToken = "guess"
)

func authKeys(t *testing.T) *auth.Keyring {
	return keyringOf(t, tokenEntry{"ops", adminToken, "*", "admin"},
		tokenEntry{"other-team", otherToken, "other*", "publish,consume,admin"})
}

// tokenEntry is an entry of an auth file: a token and its one grant, of
// comma-separated actions.
type tokenEntry struct{ name, token, topics, actions string }

// keyringOf loads an auth file of the entries, as herald serve
// --auth-file does.
func keyringOf(t *testing.T, entries ...tokenEntry) *auth.Keyring {
	t.Helper()
	type grant struct {
		Topics  string   `json:"topics"`
		Actions []string `json:"actions"`
	}
	type entry struct {
		Name   string  `json:"name"`
		SHA256 string  `json:"sha256"`
		Grants []grant `json:"grants"`
	}
	var file struct {
		Tokens []entry `json:"tokens"`
	}
	for _, e := range entries {
		sum := sha256.Sum256([]byte(e.token))
		file.Tokens = append(file.Tokens, entry{e.name, hex.EncodeToString(sum[:]), []grant{{e.topics, strings.Split(e.actions, ",")}}})
	}
	body, err := json.Marshal(file)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "auth.json")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	k := &auth.Keyring{}
	if err := k.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	return k
}

// concretePath fills a route pattern's wildcards: the topic is "orders".
func concretePath(pattern string) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	path = strings.NewReplacer("{topic}", "orders", "{name}", "billing", "{subject}", "UserRegistered",
		"{version}", "1", "{id}", "1", "{$}", "").Replace(path)
	return method, path
}

// Built from the server's own route list: every route refuses a missing
// and a wrong token, and every route that needs a permission on "orders"
// (or on every topic) refuses a token whose grants are elsewhere. A token
// with every grant gets past both. A new route cannot be forgotten: all
// are registered through the one function that records them.
func TestAuth_EveryRouteRefusesMissingWrongAndUnpermittedTokens(t *testing.T) {
	e := newEnv(t, broker.Options{}, Options{Keys: authKeys(t), Tokens: []string{"plain-token"}})
	if len(e.srv.opts.Tokens) != 0 {
		t.Fatal("the server keeps the tokens themselves, not only their hashes")
	}
	if len(e.srv.routeList) < 40 {
		t.Fatalf("only %d routes listed", len(e.srv.routeList))
	}
	// What any valid token may do, whatever its grants, said here
	// independently of the route table: listing topic names, scraping the
	// metrics, and reading or checking schemas. Everything else needs a grant.
	anyToken := func(pattern string) bool {
		return pattern == "GET /v1/topics" || pattern == "GET /metrics" || (strings.Contains(pattern, RegistryPrefix) &&
			(strings.HasPrefix(pattern, "GET ") || strings.Contains(pattern, "/compatibility/") || pattern == "POST "+RegistryPrefix+"/subjects/{subject}"))
	}
	for _, rt := range e.srv.routeList {
		if (rt.need.scope == scopeAuthenticated) != anyToken(rt.pattern) && strings.Contains(rt.pattern, " ") {
			t.Errorf("%s: the route table says scope %d; the test expects any token %v", rt.pattern, rt.need.scope, anyToken(rt.pattern))
		}
		if rt.pattern == "GET /healthz" && rt.need.scope != scopeOpen {
			t.Errorf("the health check needs a token")
		}
		if rt.need.scope == scopeOpen && rt.pattern != "GET /healthz" {
			t.Errorf("%s is open to anyone", rt.pattern)
		}
		if rt.need.scope == scopeOpen || !strings.Contains(rt.pattern, " ") {
			continue // the health check; the gRPC prefix is TestAuth_EveryRPCMethod…
		}
		method, path := concretePath(rt.pattern)
		t.Run(rt.pattern, func(t *testing.T) {
			code := func(token string) int {
				req := httptest.NewRequest(method, path, strings.NewReader("{}"))
				req.Header.Set("Content-Type", "application/json")
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				rec := httptest.NewRecorder()
				e.srv.ServeHTTP(rec, req)
				return rec.Code
			}
			if got := code(""); got != 401 {
				t.Errorf("no token: %d, want 401", got)
			}
			if got := code(wrongToken); got != 401 {
				t.Errorf("wrong token: %d, want 401", got)
			}
			needsGrant := rt.need.scope != scopeAuthenticated
			if got := code(otherToken); needsGrant && got != 403 {
				t.Errorf("token without the permission: %d, want 403", got)
			} else if !needsGrant && (got == 401 || got == 403) {
				t.Errorf("any valid token may: %d", got)
			}
			for _, tok := range []string{adminToken, "plain-token"} {
				if got := code(tok); got == 401 || got == 403 {
					t.Errorf("token with every grant: %d", got)
				}
			}
		})
	}
	req := httptest.NewRequest("GET", "/healthz", nil)
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Errorf("/healthz without a token: %d, want 200", rec.Code)
	}
	if _, err := e.broker.Topic(context.Background(), "orders"); err == nil {
		t.Fatal("a refused request changed something")
	}
}

// rpcCalls calls each method of HeraldService once, naming topic
// "orders"; the test fails when the service has a method this table does
// not call.
var rpcCalls = map[string]func(ctx context.Context, c heraldv1connect.HeraldServiceClient) error{
	"PutTopic": func(ctx context.Context, c heraldv1connect.HeraldServiceClient) error {
		_, err := c.PutTopic(ctx, connect.NewRequest(&heraldv1.PutTopicRequest{Name: "orders"}))
		return err
	},
	"GetTopic": func(ctx context.Context, c heraldv1connect.HeraldServiceClient) error {
		_, err := c.GetTopic(ctx, connect.NewRequest(&heraldv1.GetTopicRequest{Name: "orders"}))
		return err
	},
	"ListTopics": func(ctx context.Context, c heraldv1connect.HeraldServiceClient) error {
		_, err := c.ListTopics(ctx, connect.NewRequest(&heraldv1.ListTopicsRequest{}))
		return err
	},
	"DeleteTopic": func(ctx context.Context, c heraldv1connect.HeraldServiceClient) error {
		_, err := c.DeleteTopic(ctx, connect.NewRequest(&heraldv1.DeleteTopicRequest{Name: "orders"}))
		return err
	},
	"Publish": func(ctx context.Context, c heraldv1connect.HeraldServiceClient) error {
		_, err := c.Publish(ctx, connect.NewRequest(&heraldv1.PublishRequest{Topic: "orders"}))
		return err
	},
	"PublishStream": func(ctx context.Context, c heraldv1connect.HeraldServiceClient) error {
		s := c.PublishStream(ctx)
		s.Send(&heraldv1.PublishRequest{Topic: "orders"})
		s.CloseRequest()
		_, err := s.Receive()
		return err
	},
	"Read": func(ctx context.Context, c heraldv1connect.HeraldServiceClient) error {
		_, err := c.Read(ctx, connect.NewRequest(&heraldv1.ReadRequest{Topic: "orders"}))
		return err
	},
	"GetOffsets": func(ctx context.Context, c heraldv1connect.HeraldServiceClient) error {
		_, err := c.GetOffsets(ctx, connect.NewRequest(&heraldv1.GetOffsetsRequest{Topic: "orders"}))
		return err
	},
	"PutSubscription": func(ctx context.Context, c heraldv1connect.HeraldServiceClient) error {
		_, err := c.PutSubscription(ctx, connect.NewRequest(&heraldv1.PutSubscriptionRequest{Topic: "orders", Name: "billing"}))
		return err
	},
	"GetSubscription": func(ctx context.Context, c heraldv1connect.HeraldServiceClient) error {
		_, err := c.GetSubscription(ctx, connect.NewRequest(&heraldv1.GetSubscriptionRequest{Topic: "orders", Name: "billing"}))
		return err
	},
	"ListSubscriptions": func(ctx context.Context, c heraldv1connect.HeraldServiceClient) error {
		_, err := c.ListSubscriptions(ctx, connect.NewRequest(&heraldv1.ListSubscriptionsRequest{Topic: "orders"}))
		return err
	},
	"DeleteSubscription": func(ctx context.Context, c heraldv1connect.HeraldServiceClient) error {
		_, err := c.DeleteSubscription(ctx, connect.NewRequest(&heraldv1.DeleteSubscriptionRequest{Topic: "orders", Name: "billing"}))
		return err
	},
	"Seek": func(ctx context.Context, c heraldv1connect.HeraldServiceClient) error {
		_, err := c.Seek(ctx, connect.NewRequest(&heraldv1.SeekRequest{Topic: "orders", Name: "billing", Start: "latest"}))
		return err
	},
	"Pull": func(ctx context.Context, c heraldv1connect.HeraldServiceClient) error {
		_, err := c.Pull(ctx, connect.NewRequest(&heraldv1.PullRequest{Topic: "orders", Subscription: "billing"}))
		return err
	},
	"Settle": func(ctx context.Context, c heraldv1connect.HeraldServiceClient) error {
		_, err := c.Settle(ctx, connect.NewRequest(&heraldv1.SettleRequest{Topic: "orders", Subscription: "billing"}))
		return err
	},
	"Subscribe": func(ctx context.Context, c heraldv1connect.HeraldServiceClient) error {
		s := c.Subscribe(ctx)
		s.Send(&heraldv1.SubscribeRequest{Kind: &heraldv1.SubscribeRequest_Start{Start: &heraldv1.SubscribeStart{Topic: "orders", Subscription: "billing"}}})
		s.CloseRequest()
		_, err := s.Receive()
		return err
	},
	"RegisterSchema": func(ctx context.Context, c heraldv1connect.HeraldServiceClient) error {
		_, err := c.RegisterSchema(ctx, connect.NewRequest(&heraldv1.RegisterSchemaRequest{Subject: "UserRegistered", Schema: `{}`}))
		return err
	},
}

// Every method of the gRPC service, from its descriptor: refused without
// a token and with a wrong one (unauthenticated), refused to a token
// without the permission (permission denied; listing topics needs only a
// valid token), let through with every grant.
func TestAuth_EveryRPCMethodRefusesMissingWrongAndUnpermittedTokens(t *testing.T) {
	e := newEnv(t, broker.Options{}, Options{Keys: authKeys(t)})
	srv := httptest.NewUnstartedServer(e.srv)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	methods := heraldv1.File_herald_v1_herald_proto.Services().ByName("HeraldService").Methods()
	for i := 0; i < methods.Len(); i++ {
		name := string(methods.Get(i).Name())
		call, ok := rpcCalls[name]
		if !ok {
			t.Errorf("method %s is not in the authorization table: add it to rpcCalls", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			code := func(token string) connect.Code {
				hc := srv.Client()
				if token != "" {
					hc = &http.Client{Transport: bearerTransport{token: token, next: srv.Client().Transport}}
				}
				c := heraldv1connect.NewHeraldServiceClient(hc, srv.URL, connect.WithGRPC())
				err := call(context.Background(), c)
				var ce *connect.Error
				if errors.As(err, &ce) {
					return ce.Code()
				}
				return 0
			}
			for _, tok := range []string{"", wrongToken} {
				if got := code(tok); got != connect.CodeUnauthenticated {
					t.Errorf("token %q: %v, want unauthenticated", tok, got)
				}
			}
			got := code(otherToken)
			if name == "ListTopics" {
				if got == connect.CodePermissionDenied || got == connect.CodeUnauthenticated {
					t.Errorf("any valid token may list topics: %v", got)
				}
			} else if got != connect.CodePermissionDenied {
				t.Errorf("token without the permission: %v, want permission denied", got)
			}
			if got := code(adminToken); got == connect.CodePermissionDenied || got == connect.CodeUnauthenticated {
				t.Errorf("token with every grant: %v", got)
			}
		})
	}
}

// A partition's offsets are read with the consume grant on its topic, as
// the log is: publish or a grant on other topics is not enough.
func TestAuth_OffsetsOfAPartitionNeedConsumeOnItsTopic(t *testing.T) {
	keys := keyringOf(t, tokenEntry{"ops", "ops-token", "*", "admin"}, tokenEntry{"reader", "reader-token", "orders", "consume"},
		tokenEntry{"writer", "writer-token", "orders", "publish"}, tokenEntry{"elsewhere", "elsewhere-token", "payments", "consume"})
	env := newEnv(t, broker.Options{}, Options{Keys: keys})
	env.do("POST", "/v1/topics/orders/events", structured("e1"), append(ctStructured, "Authorization", "Bearer ops-token")...).wantStatus(t, http.StatusOK, mediaJSON, nil)
	srv := httptest.NewUnstartedServer(env.srv)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	for token, want := range map[string]connect.Code{"reader-token": 0, "writer-token": connect.CodePermissionDenied, "elsewhere-token": connect.CodePermissionDenied} {
		c := heraldv1connect.NewHeraldServiceClient(&http.Client{Transport: bearerTransport{token: token, next: srv.Client().Transport}}, srv.URL, connect.WithGRPC())
		resp, err := c.GetOffsets(context.Background(), connect.NewRequest(&heraldv1.GetOffsetsRequest{Topic: "orders"}))
		switch {
		case want == 0 && (err != nil || resp.Msg.GetEndOffset() != 1):
			t.Errorf("%s: %v, %v; want end offset 1", token, resp, err)
		case want != 0 && connect.CodeOf(err) != want:
			t.Errorf("%s: %v, want %v", token, err, want)
		}
	}
}

type bearerTransport struct {
	token string
	next  http.RoundTripper
}

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// A request without an accepted token gets 401 unauthorized with one
// sentence of detail, saying how to send a token.
func TestAuth_UnauthorizedSaysHowToSendAToken(t *testing.T) {
	e := newEnv(t, broker.Options{}, Options{Keys: authKeys(t)})
	for _, token := range []string{"", wrongToken} {
		req := httptest.NewRequest(http.MethodGet, "/v1/topics", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		e.srv.ServeHTTP(rec, req)
		var p Problem
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || rec.Code != 401 || p.Code != "unauthorized" {
			t.Fatalf("token %q: %d %s", token, rec.Code, rec.Body)
		}
		if rec.Header().Get("WWW-Authenticate") != `Bearer realm="herald"` {
			t.Errorf("token %q: WWW-Authenticate %q", token, rec.Header().Get("WWW-Authenticate"))
		}
		if !strings.HasPrefix(p.Detail, "unauthorized: ") || strings.ContainsAny(p.Detail, "\r\n") ||
			!strings.Contains(p.Detail, `"Authorization: Bearer TOKEN"`) {
			t.Errorf("token %q: detail %q, want one sentence saying how to send a token", token, p.Detail)
		}
	}
}

func TestAuth_GrantsMatchTopicPatternsAndAdminImpliesTheRest(t *testing.T) {
	p := &auth.Principal{Name: "t", Grants: []auth.Grant{
		{Topics: "orders*", Actions: []auth.Action{auth.Consume}},
		{Topics: "audit", Actions: []auth.Action{auth.Admin}},
	}}
	for _, tc := range []struct {
		a     auth.Action
		topic string
		want  bool
	}{
		{auth.Consume, "orders", true}, {auth.Consume, "orders.billing.dlq", true}, {auth.Publish, "orders", false},
		{auth.Consume, "payments", false}, {auth.Publish, "audit", true}, {auth.Consume, "audit", true},
		{auth.Admin, "audit", true}, {auth.Admin, "*", false}, {auth.Consume, "auditx", false},
	} {
		if got := p.Allowed(tc.a, tc.topic); got != tc.want {
			t.Errorf("%s on %q: %v, want %v", tc.a, tc.topic, got, tc.want)
		}
	}
}

func TestAuth_BadAuthFilesAreRefusedNamingTheEntry(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"tokens": [{"name": "a", "sha256": "abc", "grants": []}]}`, "64 hex digits"},
		{`{"tokens": [{"name": "", "sha256": "` + strings.Repeat("a", 64) + `"}]}`, "name is required"},
		{`{"tokens": [{"name": "a", "sha256": "` + strings.Repeat("a", 64) + `", "grants": [{"topics": "x", "actions": ["delete"]}]}]}`, `action "delete"`},
		{`{"tokens": [{"name": "a", "sha256": "` + strings.Repeat("a", 64) + `", "grants": [{"topics": "", "actions": ["admin"]}]}]}`, "needs topics"},
		{`{"tokenz": []}`, "unknown field"},
		{`{"tokens": []}`, "no tokens"},
		{`{"tokens": [{"name": "a", "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "grants": [{"topics": "x", "actions": ["consume"]}]}]}`,
			"the SHA-256 of the empty string"},
		{`{"tokens": [{"name": "a", "sha256": "` + strings.Repeat("a", 64) + `", "grants": [{"topics": "orders?", "actions": ["admin"]}]}]}`, `grant topics "orders?"`},
		{`{"tokens": [{"name": "a", "sha256": "` + strings.Repeat("a", 64) + `", "grants": [{"topics": "[a-o]*", "actions": ["admin"]}]}]}`, `grant topics "[a-o]*"`},
		{`{"tokens": [{"name": "a", "sha256": "` + strings.Repeat("a", 64) + `", "grants": [{"topics": "orders ", "actions": ["admin"]}]}]}`, `grant topics "orders "`},
		{`{"tokens": [{"name": "a", "sha256": "` + strings.Repeat("a", 64) + `", "grants": [{"topics": "orders/*", "actions": ["admin"]}]}]}`, `grant topics "orders/*"`},
		{`{"tokens": [{"name": "a", "sha256": "` + strings.Repeat("a", 64) + `", "grants": [{"topics": "x", "actions": []}]}]}`, "needs actions"},
		{`{"tokens": [{"name": "a", "sha256": "` + strings.Repeat("a", 64) + `", "grants": [{"topics": "x"}]}]}`, "needs actions"},
		{`{"tokens": [{"name": "a", "sha256": "` + strings.Repeat("a", 64) + `", "grants": [{"topics": "x", "actions": ["consume"]}]},
		              {"name": "b", "sha256": "` + strings.Repeat("A", 64) + `", "grants": [{"topics": "*", "actions": ["admin"]}]}]}`,
			`token 1 ("b"): the same sha256 as token 0 ("a")`},
		{`{"tokens": [{"name": "a", "sha256": "` + strings.Repeat("a", 64) + `", "grants": []}]}
		  {"tokens": [{"name": "b", "sha256": "` + strings.Repeat("b", 64) + `", "grants": []}]}`, "after the JSON object"},
	} {
		file := filepath.Join(t.TempDir(), "auth.json")
		os.WriteFile(file, []byte(tc.body), 0o600)
		err := (&auth.Keyring{}).LoadFile(file)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.body, err, tc.want)
		}
	}
}

// A subscription's dead-letter topic needs admin on it: a token with admin
// only on other* cannot make Herald create "orders" and write dead letters
// into it, at creation or by a change.
func TestAuth_ADeadLetterTopicNeedsAdminOnIt(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{Keys: authKeys(t)})
	auth := []string{"Authorization", "Bearer " + otherToken}
	if r := env.do("PUT", "/v1/topics/orders", "", auth...); r.status != 403 {
		t.Fatalf("setup: the token may create orders directly: %d", r.status)
	}
	if r := env.do("PUT", "/v1/topics/other1", "", auth...); r.status != 201 {
		t.Fatalf("create other1: %d %s", r.status, r.body)
	}
	r := env.do("PUT", "/v1/topics/other1/subscriptions/s", `{"start":"earliest","maxAttempts":1,"deadLetterTopic":"orders"}`, auth...)
	if r.status != 403 {
		t.Errorf("subscription with deadLetterTopic orders (no grant): %d, want 403", r.status)
	}
	if r := env.do("PUT", "/v1/topics/other1/subscriptions/s", `{"start":"earliest","maxAttempts":1}`, auth...); r.status != 201 {
		t.Fatalf("subscription with the default dead-letter topic: %d %s", r.status, r.body)
	}
	if r := env.do("PUT", "/v1/topics/other1/subscriptions/s", `{"deadLetterTopic":"orders"}`, auth...); r.status != 403 {
		t.Errorf("changing the dead-letter topic to orders (no grant): %d, want 403", r.status)
	}
	if r := env.do("PUT", "/v1/topics/other1/subscriptions/s", `{"deadLetterTopic":"other-dlq"}`, auth...); r.status != 200 {
		t.Errorf("changing the dead-letter topic to other-dlq (admin on it): %d %s", r.status, r.body)
	}
	if _, err := env.broker.Topic(t.Context(), "orders"); err == nil {
		t.Errorf("topic orders was created through a token with no grant on it")
	}
}

// The default dead-letter topic {topic}.{name}.dlq needs no grant of its
// own only when the name has no dot: "shop.x.s.dlq" is also the default of
// subscription s on topic shop.x, which a token with admin on shop alone
// must not write into.
func TestAuth_TheDefaultDeadLetterTopicOfADottedNameNeedsAdminOnIt(t *testing.T) {
	keys := keyringOf(t, tokenEntry{"shop", "shop-token", "shop", "admin"})
	env := newEnv(t, broker.Options{}, Options{Keys: keys})
	tok := []string{"Authorization", "Bearer shop-token"}
	if r := env.do("PUT", "/v1/topics/shop", "", tok...); r.status != 201 {
		t.Fatalf("create shop: %d %s", r.status, r.body)
	}
	if r := env.do("PUT", "/v1/topics/shop/subscriptions/x.s", `{"maxAttempts":1}`, tok...); r.status != 403 {
		t.Errorf("subscription x.s with the default dead-letter topic shop.x.s.dlq: %d %s, want 403", r.status, r.body)
	}
	if r := env.do("PUT", "/v1/topics/shop/subscriptions/s", `{"maxAttempts":1}`, tok...); r.status != 201 {
		t.Errorf("subscription s with the default dead-letter topic shop.s.dlq: %d %s, want 201", r.status, r.body)
	}
	if _, err := env.broker.Topic(t.Context(), "shop.x.s.dlq"); err == nil {
		t.Errorf("topic shop.x.s.dlq was created through a token with no grant on it")
	}
}

// No token is the empty string: a request without one (or with an empty
// one) is refused even when the empty string was given as a token.
func TestAuth_AnEmptyTokenLetsNothingIn(t *testing.T) {
	e := newEnv(t, broker.Options{}, Options{Tokens: []string{""}})
	for _, header := range []string{"", "Bearer ", "Bearer"} {
		req := httptest.NewRequest(http.MethodGet, "/v1/topics", nil)
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		rec := httptest.NewRecorder()
		e.srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("Authorization %q: %d, want 401", header, rec.Code)
		}
	}
}

// On a server that checks tokens, the audit trail names the token of a
// redrive, since whoever holds one can name any actor.
func TestAuth_TheRedriveAuditNamesTheToken(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{Keys: authKeys(t)})
	tok := []string{"Authorization", "Bearer " + adminToken}
	env.do("PUT", "/v1/topics/orders", "", tok...).wantStatus(t, http.StatusCreated, mediaJSON, nil)
	env.do("PUT", subPath, `{"maxAttempts":1}`, tok...).wantStatus(t, http.StatusCreated, mediaJSON, nil)
	env.do("POST", subPath+"/redrive", `{"all":true,"actor":"alice"}`, tok...).wantStatus(t, http.StatusOK, mediaJSON, nil)
	env.do("POST", subPath+"/redrive", `{"all":true}`, tok...).wantStatus(t, http.StatusOK, mediaJSON, nil)
	var audit RedriveLog
	env.do("GET", subPath+"/redrives", "", tok...).wantStatus(t, http.StatusOK, mediaJSON, &audit)
	var actors []string
	for _, r := range audit.Redrives {
		actors = append(actors, r.Actor)
	}
	if want := []string{"alice (token ops)", "token ops"}; !slices.Equal(actors, want) {
		t.Errorf("audit actors %q, want %q", actors, want)
	}
}

// An event that says it is a dead letter of a subscription on a topic
// (the deadtopic attribute) needs publish on that topic too: else a token
// that may publish only into a dead-letter topic could make a redrive of
// that subscription deliver its event to the subscription's consumers as
// an event of the subscription's topic. Over HTTP (structured and binary
// mode) and gRPC; the topic stays as it was.
func TestAuth_ADeadLetterOfATopicIsPublishedOnlyWithPublishOnIt(t *testing.T) {
	keys := keyringOf(t, tokenEntry{"ops", "ops-token", "*", "admin"}, tokenEntry{"dlq-tool", "dlq-token", "*.dlq", "publish"})
	env := newEnv(t, broker.Options{}, Options{Keys: keys})
	ops, tool := []string{"Authorization", "Bearer ops-token"}, []string{"Authorization", "Bearer dlq-token"}
	env.do("PUT", "/v1/topics/payments", "", ops...).wantStatus(t, http.StatusCreated, mediaJSON, nil)
	env.do("PUT", "/v1/topics/payments/subscriptions/s", `{"start":"earliest"}`, ops...).wantStatus(t, http.StatusCreated, mediaJSON, nil)
	const dlq = "/v1/topics/payments.s.dlq/events"
	forged := `{"specversion":"1.0","id":"x@payments/s","source":"/evil","type":"refund","deadtopic":"payments","deadsubscription":"s","data":{}}`
	p := env.do("POST", dlq, forged, append(ctStructured, tool...)...).wantProblem(t, http.StatusForbidden, "forbidden")
	if !strings.Contains(p.Detail, "deadtopic") || !strings.Contains(p.Detail, `"payments"`) {
		t.Errorf("detail %q does not say which attribute names which topic", p.Detail)
	}
	binary := append(binaryHeaders("y@payments/s"), "ce-deadtopic", "payments", "ce-deadsubscription", "s")
	env.do("POST", dlq, `{}`, append(binary, tool...)...).wantProblem(t, http.StatusForbidden, "forbidden")

	srv := httptest.NewUnstartedServer(env.srv)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c := heraldv1connect.NewHeraldServiceClient(&http.Client{Transport: bearerTransport{token: "dlq-token", next: srv.Client().Transport}}, srv.URL, connect.WithGRPC())
	ce := &heraldv1.CloudEvent{Id: "z@payments/s", Source: "/evil", SpecVersion: "1.0", Type: "refund", Attributes: map[string]*heraldv1.CloudEventAttributeValue{
		"deadtopic": {Attr: &heraldv1.CloudEventAttributeValue_CeString{CeString: "payments"}}}}
	_, err := c.Publish(context.Background(), connect.NewRequest(&heraldv1.PublishRequest{Topic: "payments.s.dlq", Events: []*heraldv1.CloudEvent{ce}}))
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Errorf("gRPC publish of a dead letter of payments: %v, want permission denied", err)
	}
	stream := c.PublishStream(context.Background())
	stream.Send(&heraldv1.PublishRequest{Topic: "payments.s.dlq", Events: []*heraldv1.CloudEvent{ce}})
	stream.CloseRequest()
	if _, err := stream.Receive(); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Errorf("gRPC stream publish of a dead letter of payments: %v, want permission denied", err)
	}
	if ends := env.endOffsets("payments.s.dlq"); ends[0] != 0 {
		t.Fatalf("the refused dead letters were stored: end offsets %v", ends)
	}
	env.do("POST", dlq, structured("plain"), append(ctStructured, tool...)...).wantStatus(t, http.StatusOK, mediaJSON, nil)
	env.do("POST", dlq, forged, append(ctStructured, ops...)...).wantStatus(t, http.StatusOK, mediaJSON, nil)
}

// Creating a topic takes the admin grant on it, also when a first publish
// would create it: a token that may only publish on "orders.*" can fill
// the topics that exist, not make new ones (as Kafka asks for CREATE).
func TestAuth_APublishCreatesATopicOnlyForATokenThatMayAdministerIt(t *testing.T) {
	keys := keyringOf(t, tokenEntry{"ops", "ops-token", "orders.*", "admin"}, tokenEntry{"app", "app-token", "orders.*", "publish"})
	env := newEnv(t, broker.Options{}, Options{Keys: keys})
	ops, app := []string{"Authorization", "Bearer ops-token"}, []string{"Authorization", "Bearer app-token"}
	p := env.do("POST", "/v1/topics/orders.new/events", structured("e1"), append(ctStructured, app...)...).wantProblem(t, http.StatusForbidden, "forbidden")
	if !strings.Contains(p.Detail, "does not exist") || !strings.Contains(p.Detail, "admin") {
		t.Errorf("detail %q does not say the topic is missing and creating it needs admin", p.Detail)
	}

	srv := httptest.NewUnstartedServer(env.srv)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c := heraldv1connect.NewHeraldServiceClient(&http.Client{Transport: bearerTransport{token: "app-token", next: srv.Client().Transport}}, srv.URL, connect.WithGRPC())
	ce := &heraldv1.CloudEvent{Id: "g1", Source: "/app", SpecVersion: "1.0", Type: "placed"}
	_, err := c.Publish(context.Background(), connect.NewRequest(&heraldv1.PublishRequest{Topic: "orders.grpc", Events: []*heraldv1.CloudEvent{ce}}))
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Errorf("gRPC publish to a topic that does not exist: %v, want permission denied", err)
	}
	for _, topic := range []string{"orders.new", "orders.grpc"} {
		env.do("GET", "/v1/topics/"+topic, "", ops...).wantProblem(t, http.StatusNotFound, "unknown_topic")
	}

	env.do("POST", "/v1/topics/orders.new/events", structured("e2"), append(ctStructured, ops...)...).wantStatus(t, http.StatusOK, mediaJSON, nil)
	env.do("POST", "/v1/topics/orders.new/events", structured("e3"), append(ctStructured, app...)...).wantStatus(t, http.StatusOK, mediaJSON, nil)
	if ends := env.endOffsets("orders.new"); ends[0] != 2 {
		t.Fatalf("orders.new holds offsets up to %v, want the 2 events published once it existed", ends)
	}
}

// A dead letter is Herald's own write, for the subscription whose admin
// chose its dead-letter topic: when that topic was deleted, the next dead
// letter makes it again, whoever's request (a consumer's nack) brought the
// event to its last attempt, as when the lease timer does. A consumer
// without admin on the dead-letter topic left the event stuck instead,
// failing to store its dead letter at every try.
func TestAuth_ADeadLetterRemakesItsDeletedTopicWhateverTheConsumersGrants(t *testing.T) {
	keys := keyringOf(t, tokenEntry{"ops", "ops-token", "*", "admin"}, tokenEntry{"worker", "worker-token", "payments", "publish,consume"})
	env := newEnv(t, broker.Options{}, Options{Keys: keys})
	ops, worker := []string{"Authorization", "Bearer ops-token"}, []string{"Authorization", "Bearer worker-token"}
	const sub = "/v1/topics/payments/subscriptions/s"
	env.do("PUT", "/v1/topics/payments", "", ops...).wantStatus(t, http.StatusCreated, mediaJSON, nil)
	env.do("PUT", sub, `{"start":"earliest","maxAttempts":1}`, ops...).wantStatus(t, http.StatusCreated, mediaJSON, nil)
	env.do("DELETE", "/v1/topics/payments.s.dlq", "", ops...).wantStatus(t, http.StatusNoContent, "", nil)
	env.do("POST", "/v1/topics/payments/events", structured("p1"), append(ctStructured, worker...)...).wantStatus(t, http.StatusOK, mediaJSON, nil)
	var pulled PullReply
	env.do("POST", sub+"/pull", `{"max":1}`, worker...).wantStatus(t, http.StatusOK, mediaJSON, &pulled)
	if len(pulled.Deliveries) != 1 {
		t.Fatalf("pulled %d deliveries, want 1", len(pulled.Deliveries))
	}
	var acked AckReply
	env.do("POST", sub+"/nack", ackBody(pulled.Deliveries...), worker...).wantStatus(t, http.StatusOK, mediaJSON, &acked)
	if len(acked.Acked) != 1 {
		t.Fatalf("nack: %+v, want the delivery settled", acked)
	}
	if ends := env.endOffsets("payments.s.dlq"); ends[0] != 1 {
		t.Fatalf("dead-letter topic holds offsets up to %v, want the one dead letter", ends)
	}
}
