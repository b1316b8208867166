package herald_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldevents/herald"
	"github.com/heraldevents/herald/internal/schema"
)

// orderSchema and brokenOrderSchema give verdicts that do not depend on
// the finer compatibility rules: brokenOrderSchema changes a property's
// type from string to integer.
const (
	orderSchema       = `{"type":"object","properties":{"orderId":{"type":"string"},"total":{"type":"number","minimum":0}},"required":["orderId","total"]}`
	brokenOrderSchema = `{"type":"object","properties":{"orderId":{"type":"integer"},"total":{"type":"number","minimum":0}},"required":["orderId","total"]}`
)

func TestClient_RegisterSchemaThenPublishValidates(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		ctx := context.Background()
		if v, err := c.RegisterSchema(ctx, "order.placed", []byte(orderSchema)); err != nil || v != 1 {
			t.Fatalf("register: %d %v", v, err)
		}
		if v, err := c.RegisterSchema(ctx, "order.placed", []byte(orderSchema)); err != nil || v != 1 {
			t.Fatalf("register the same schema again: %d %v", v, err)
		}
		validate := herald.SchemaPolicyValidate
		if tp, _, err := c.PutTopic(ctx, "orders", herald.TopicSpec{SchemaPolicy: &validate}); err != nil || tp.SchemaPolicy != validate {
			t.Fatalf("put topic: %+v %v", tp, err)
		}
		if tp, err := c.Topic(ctx, "orders"); err != nil || tp.SchemaPolicy != validate {
			t.Fatalf("topic: %+v %v", tp, err)
		}
		order := func(id string, data any, opts ...herald.EventOption) *herald.CloudEvent {
			return herald.MustNewEvent("order.placed", data, append(opts, herald.WithSource("/shop"), herald.WithID(id))...)
		}
		if _, err := c.Publish(ctx, "orders", order("o-1", map[string]any{"orderId": "o-1", "total": 12.5}, herald.WithSchemaVersion(1))); err != nil {
			t.Fatalf("publish a good event: %v", err)
		}
		_, err := c.Publish(ctx, "orders", order("o-2", map[string]any{"orderId": "o-2", "total": 1}),
			order("o-3", map[string]any{"orderId": 3, "total": -1}))
		var verr *herald.SchemaViolationError
		if !errors.Is(err, herald.ErrSchemaViolation) || !errors.As(err, &verr) {
			t.Fatalf("publish a batch with a bad event: %v, want a SchemaViolationError", err)
		}
		if len(verr.Violations) != 2 || verr.Events != 1 {
			t.Fatalf("violations: %+v", verr)
		}
		for _, v := range verr.Violations {
			if v.Index != 1 || v.ID != "o-3" || v.Version != 1 || (v.Pointer != "/orderId" && v.Pointer != "/total") || v.Message == "" {
				t.Errorf("violation %+v", v)
			}
		}
		if got, err := c.Read(ctx, "orders", 0, 0, 10); err != nil || len(got) != 1 || got[0].ID != "o-1" {
			t.Fatalf("stored: %v %v, want only o-1: nothing of the refused batch", got, err)
		}
		_, err = c.Publish(ctx, "orders", order("o-4", map[string]any{"orderId": "o-4", "total": 1}, herald.WithSchemaVersion(2)))
		if !errors.As(err, &verr) || !strings.Contains(verr.Violations[0].Message, "version 2") {
			t.Fatalf("a dataschema naming a version that does not exist: %v", err)
		}

		_, err = c.RegisterSchema(ctx, "order.placed", []byte(brokenOrderSchema))
		var ierr *herald.IncompatibleSchemaError
		if !errors.Is(err, herald.ErrIncompatibleSchema) || !errors.As(err, &ierr) || len(ierr.Changes) == 0 || ierr.Changes[0].Version != 1 {
			t.Fatalf("register an incompatible schema: %v", err)
		}
		if _, err := c.RegisterSchema(ctx, "order.placed", []byte(`{"type":"nonsense"}`)); !errors.Is(err, herald.ErrInvalidSchema) {
			t.Fatalf("register a schema that is not one: %v", err)
		}
	})
}

func TestClient_RequirePolicyRefusesTypesWithoutASchema(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		ctx := context.Background()
		require := herald.SchemaPolicyRequire
		if _, _, err := c.PutTopic(ctx, "audit", herald.TopicSpec{SchemaPolicy: &require}); err != nil {
			t.Fatal(err)
		}
		e := herald.MustNewEvent("audit.logged", map[string]string{"who": "me"}, herald.WithSource("/audit"))
		if _, err := c.Publish(ctx, "audit", e); !errors.Is(err, herald.ErrSchemaViolation) || !strings.Contains(err.Error(), "no schema is registered") {
			t.Fatalf("publish without a schema: %v", err)
		}
		if _, err := c.RegisterSchema(ctx, "audit.logged", []byte(`{"type":"object","required":["who"]}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Publish(ctx, "audit", e); err != nil {
			t.Fatalf("publish once the schema is there: %v", err)
		}
	})
}

// The seed's UserRegistered example: version 2 adds phone, version 3
// splits name into firstName and lastName (and keeps name).
type UserV1 struct {
	UserID string `json:"userId"`
	Email  string `json:"email"`
	Name   string `json:"name"`
}

type UserV2 struct {
	UserID string `json:"userId"`
	Email  string `json:"email"`
	Name   string `json:"name"`
	Phone  string `json:"phone,omitempty"`
}

type UserV3 struct {
	UserID    string `json:"userId"`
	Email     string `json:"email"`
	Name      string `json:"name"`
	FirstName string `json:"firstName"`
	LastName  string `json:"lastName"`
	Phone     string `json:"phone,omitempty"`
}

func v1ToV2(u UserV1) (UserV2, error) {
	return UserV2{UserID: u.UserID, Email: u.Email, Name: u.Name}, nil
}

func v2ToV3(u UserV2) (UserV3, error) {
	first, last, _ := strings.Cut(u.Name, " ")
	return UserV3{UserID: u.UserID, Email: u.Email, Name: u.Name, FirstName: first, LastName: last, Phone: u.Phone}, nil
}

func TestRouter_UpcastsUserRegisteredFromEveryVersion(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		ctx := context.Background()
		if _, err := c.PutSubscription(ctx, "users", "welcome", herald.SubscriptionConfig{Start: "earliest"}); !errors.Is(err, herald.ErrTopicNotFound) {
			// the topic is created below; a subscription needs it first
			t.Fatalf("subscription before the topic: %v", err)
		}
		if _, _, err := c.PutTopic(ctx, "users", herald.TopicSpec{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PutSubscription(ctx, "users", "welcome", herald.SubscriptionConfig{Start: "earliest"}); err != nil {
			t.Fatal(err)
		}
		user := func(id string, version int, data any) *herald.CloudEvent {
			return herald.MustNewEvent("UserRegistered", data, herald.WithSource("/accounts"), herald.WithID(id), herald.WithSchemaVersion(version))
		}
		events := []*herald.CloudEvent{
			user("u-1", 1, UserV1{UserID: "user-1", Email: "alice@example.com", Name: "Alice Johnson"}),
			user("u-2", 2, UserV2{UserID: "user-2", Email: "bob@example.com", Name: "Bob Smith", Phone: "+1-555-0100"}),
			user("u-3", 3, UserV3{UserID: "user-3", Email: "carol@example.com", Name: "Carol Diaz", FirstName: "Carol", LastName: "Diaz", Phone: "+1-555-0101"}),
			herald.MustNewEvent("UserRegistered", UserV3{UserID: "user-4", Email: "dan@example.com", Name: "Dan Wu", FirstName: "Dan", LastName: "Wu"},
				herald.WithSource("/accounts"), herald.WithID("u-4")), // no dataschema: taken as the newest version
		}
		if _, err := c.Publish(ctx, "users", events...); err != nil {
			t.Fatal(err)
		}

		r := herald.NewRouter(c, herald.RouterOptions{Concurrency: 1})
		herald.Upcast(r, "UserRegistered", 1, v1ToV2)
		herald.Upcast(r, "UserRegistered", 2, v2ToV3)
		var mu sync.Mutex
		got := map[string]herald.Event[UserV3]{}
		all := make(chan struct{})
		herald.Handle(r, "users", "welcome", func(ctx context.Context, e herald.Event[UserV3]) error {
			mu.Lock()
			defer mu.Unlock()
			got[e.CloudEvent.ID] = e
			if len(got) == len(events) {
				close(all)
			}
			return nil
		})
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- r.Run(runCtx) }()
		select {
		case <-all:
		case <-time.After(10 * time.Second):
			t.Fatalf("handled %d of %d events", len(got), len(events))
		}
		stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		want := map[string]struct {
			version int
			user    UserV3
		}{
			"u-1": {1, UserV3{UserID: "user-1", Email: "alice@example.com", Name: "Alice Johnson", FirstName: "Alice", LastName: "Johnson"}},
			"u-2": {2, UserV3{UserID: "user-2", Email: "bob@example.com", Name: "Bob Smith", FirstName: "Bob", LastName: "Smith", Phone: "+1-555-0100"}},
			"u-3": {3, UserV3{UserID: "user-3", Email: "carol@example.com", Name: "Carol Diaz", FirstName: "Carol", LastName: "Diaz", Phone: "+1-555-0101"}},
			"u-4": {0, UserV3{UserID: "user-4", Email: "dan@example.com", Name: "Dan Wu", FirstName: "Dan", LastName: "Wu"}},
		}
		for id, w := range want {
			if e := got[id]; e.Data != w.user || e.SchemaVersion != w.version {
				t.Errorf("%s: handled %+v at version %d, want %+v at version %d", id, e.Data, e.SchemaVersion, w.user, w.version)
			}
		}
	})
}

func TestRouter_AnUpcasterErrorDeadLettersTheEvent(t *testing.T) {
	c, err := herald.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, _, err := c.PutTopic(ctx, "users", herald.TopicSpec{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutSubscription(ctx, "users", "welcome", herald.SubscriptionConfig{Start: "earliest", MaxAttempts: 5}); err != nil {
		t.Fatal(err)
	}
	e := herald.MustNewEvent("UserRegistered", UserV1{UserID: "u", Name: ""}, herald.WithSource("/a"), herald.WithSchemaVersion(1))
	if _, err := c.Publish(ctx, "users", e); err != nil {
		t.Fatal(err)
	}
	r := herald.NewRouter(c, herald.RouterOptions{})
	herald.Upcast(r, "UserRegistered", 1, func(u UserV1) (UserV2, error) {
		if u.Name == "" {
			return UserV2{}, errors.New("a user without a name cannot be upcast")
		}
		return v1ToV2(u)
	})
	herald.Handle(r, "users", "welcome", func(context.Context, herald.Event[UserV2]) error {
		t.Error("the handler ran for an event that could not be upcast")
		return nil
	})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	defer func() { stop(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		info, err := c.Subscription(ctx, "users", "welcome")
		if err == nil && info.Partitions[0].DeadLettered == 1 {
			dead, err := c.Read(ctx, info.Config.DeadLetterTopic, 0, 0, 1)
			if err != nil || len(dead) != 1 || !strings.Contains(dead[0].Extensions["deadreason"], "cannot be upcast") {
				t.Fatalf("dead letter: %v %v", dead, err)
			}
			if attempts := dead[0].Extensions["deadattempts"]; attempts != "1" {
				t.Fatalf("dead after %s attempts, want 1: no retry helps", attempts)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the event was not dead-lettered")
}

// A schema or subject that is not UTF-8 is refused the same way embedded
// and remote: ErrInvalidSchema or an invalid subject, saying so (the
// remote client's request could not even be encoded).
func TestClient_RegisterSchemaRefusesTextThatIsNotUTF8(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		ctx := context.Background()
		_, err := c.RegisterSchema(ctx, "order.placed", []byte("{\"description\":\"caf\xe9\"}"))
		if !errors.Is(err, herald.ErrInvalidSchema) || !strings.Contains(err.Error(), "the schema is not UTF-8 (at byte offset 19)") {
			t.Errorf("schema not UTF-8: %v", err)
		}
		_, err = c.RegisterSchema(ctx, "order.plac\xe9d", []byte(orderSchema))
		if !errors.Is(err, schema.ErrInvalidSubject) || !strings.Contains(err.Error(), "is not UTF-8") {
			t.Errorf("subject not UTF-8: %v", err)
		}
	})
}

// A Publisher's batch in which some events break their schemas fails
// those events alone: the others, handed over by other callers, are
// published again without them and stored, in order.
func TestPublisher_EventsThatBreakTheirSchemasFailAloneInTheirBatch(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		ctx := context.Background()
		p := validatingPublisher(t, c, 250)
		defer p.Close(ctx)
		var results []*herald.PublishResult
		bad := map[int]bool{}
		for i := range 250 {
			data := map[string]any{"orderId": fmt.Sprint(i), "total": 1}
			if i%3 == 1 { // 83 events, 166 violations: more than one refusal lists
				bad[i] = true
				data = map[string]any{"orderId": i, "total": -1}
			}
			e := herald.MustNewEvent("order.placed", data, herald.WithSource("/shop"), herald.WithID(fmt.Sprintf("o-%03d", i)))
			results = append(results, p.Publish(ctx, "orders", e))
		}
		var stored []string
		for i, r := range results {
			res, err := r.Wait(ctx)
			var verr *herald.SchemaViolationError
			switch {
			case bad[i] && (!errors.As(err, &verr) || verr.Events != 1 || len(verr.Violations) != 2 || verr.Violations[0].ID != fmt.Sprintf("o-%03d", i)):
				t.Fatalf("event %d, which breaks its schema: %v, want a SchemaViolationError of it alone", i, err)
			case !bad[i] && err != nil:
				t.Fatalf("event %d, which keeps to its schema, failed with its batch: %v", i, err)
			case !bad[i]:
				stored = append(stored, fmt.Sprintf("o-%03d@%d", i, res.Offset))
			}
		}
		got, err := c.Read(ctx, "orders", 0, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		var read []string
		for _, e := range got {
			read = append(read, fmt.Sprintf("%s@%d", e.ID, e.Offset))
		}
		if strings.Join(read, " ") != strings.Join(stored, " ") || len(read) != 250-len(bad) {
			t.Fatalf("stored %d events: %v\nwant those answered stored, in order: %v", len(read), read, stored)
		}
	})
}

// An event that breaks its schema fails with all of its own violations,
// as alone in its batch, also when its batch's refusal listed only some
// of them (a refusal lists at most 100).
func TestPublisher_AnEventThatBreaksItsSchemaFailsWithAllItsViolations(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		ctx := context.Background()
		p := validatingPublisher(t, c, 200)
		defer p.Close(ctx)
		var results []*herald.PublishResult
		want := map[int]int{} // violations by event
		for i := range 200 {
			data := map[string]any{"orderId": fmt.Sprint(i), "total": 1}
			switch {
			case i == 0: // one violation, so that the refusal's 100th is an event's first of two
				want[i] = 1
				data = map[string]any{"orderId": i, "total": 1}
			case i%3 == 1:
				want[i] = 2
				data = map[string]any{"orderId": i, "total": -1}
			}
			e := herald.MustNewEvent("order.placed", data, herald.WithSource("/shop"), herald.WithID(fmt.Sprintf("o-%03d", i)))
			results = append(results, p.Publish(ctx, "orders", e))
		}
		for i, r := range results {
			_, err := r.Wait(ctx)
			var verr *herald.SchemaViolationError
			switch {
			case want[i] == 0 && err != nil:
				t.Errorf("event %d, which keeps to its schema, failed: %v", i, err)
			case want[i] > 0 && !errors.As(err, &verr):
				t.Errorf("event %d, which breaks its schema: %v, want a SchemaViolationError", i, err)
			case want[i] > 0 && (verr.Total != want[i] || len(verr.Violations) != want[i]):
				t.Errorf("event %d, which breaks its schema %d times, failed with %d violations (%d listed): %v", i, want[i], verr.Total, len(verr.Violations), err)
			}
		}
	})
}

// validatingPublisher registers orderSchema, makes topic orders validate
// against it, and returns a Publisher that sends a batch once it holds n
// events (or at Flush or Close).
func validatingPublisher(t *testing.T, c *herald.Client, n int) *herald.Publisher {
	t.Helper()
	ctx := context.Background()
	if _, err := c.RegisterSchema(ctx, "order.placed", []byte(orderSchema)); err != nil {
		t.Fatal(err)
	}
	validate := herald.SchemaPolicyValidate
	if _, _, err := c.PutTopic(ctx, "orders", herald.TopicSpec{SchemaPolicy: &validate}); err != nil {
		t.Fatal(err)
	}
	return c.NewPublisher(herald.PublisherOptions{Linger: time.Hour, MaxBatchEvents: n, MaxInFlight: 1})
}
