package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/schema"
	"github.com/heraldevents/herald/internal/schema/compat"
)

// testdata/herald-0963849 is a data directory written by herald serve of
// commit 0963849 (an older Herald, whose state records lack what later
// ones add: the dead letter's id and place in a redrive record, runs in a
// done set) and stopped with SIGTERM at about upgradeWritten. It holds:
//
//   - topics orders (3 partitions, kept forever, 1 MiB per partition,
//     dedup 1h, schemaPolicy validate) and payments (2 partitions, 87600h,
//     dedup 10m): e-01..e-12 of types order.placed, order.paid and
//     order.note with keys k0..k3, and p-01..p-06 from /pay;
//   - orders/bykey (key order, types order.placed and order.paid, 3
//     attempts): e-01 dead-lettered after three nacks, e-03 nacked for 30s
//     at attempt 1, e-04 at attempt 2, e-06 in flight, e-09 acked behind
//     them; orders/bypart (partition order, subject prefix eu/): every
//     event acked, then moved back to offset 1 of partition 0 and e-06 in
//     flight there; payments/unordered (no order, sources /pay*, 2
//     attempts, dead letters to payments-dead): p-01, p-02, p-03 dead,
//     p-01 and p-02 redriven by alice and bob, p-01 acked after it, p-02
//     nacked for 30s, p-06 nacked for 30s at attempt 1;
//   - schemas order.placed v1 and v2, order.paid v1 (deleted) and v2 with
//     level NONE, global level FULL, and legacy.thing v1 and v2 deleted for
//     good.
var upgradeWritten = time.Date(2026, 11, 30, 4, 54, 33, 0, time.UTC)

// openUpgraded opens a copy of the directory with the clock five minutes
// after it was written: its retries are due, its events within their
// dedup windows and retention.
func openUpgraded(t *testing.T) *testEnv {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata/herald-0963849")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	now := func() time.Time { return upgradeWritten.Add(5*time.Minute + time.Since(start)) }
	return newEnvIn(t, dir, now, broker.Options{}, Options{})
}

// getJSON decodes the JSON reply of a GET.
func (e *testEnv) getJSON(path string, v any) {
	e.t.Helper()
	e.do("GET", path, "").wantStatus(e.t, http.StatusOK, mediaJSON, v)
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestUpgrade_AnOlderHeraldsDataDirectoryKeepsItsTopicsEventsAndSchemas(t *testing.T) {
	e := openUpgraded(t)
	var topics TopicList
	e.getJSON("/v1/topics", &topics)
	want := []Topic{
		{Name: "orders", Partitions: 3, Retention: "0s", RetentionBytes: 1 << 20, DedupWindow: "1h", SchemaPolicy: "validate", CreatedAt: at("2026-11-30T04:54:21.8415951Z")},
		{Name: "orders.bykey.dlq", Partitions: 1, Retention: "168h", DedupWindow: "2m", SchemaPolicy: "none", CreatedAt: at("2026-11-30T04:54:21.848245013Z")},
		{Name: "orders.bypart.dlq", Partitions: 1, Retention: "168h", DedupWindow: "2m", SchemaPolicy: "none", CreatedAt: at("2026-11-30T04:54:21.850156316Z")},
		{Name: "payments", Partitions: 2, Retention: "87600h", DedupWindow: "10m", SchemaPolicy: "none", CreatedAt: at("2026-11-30T04:54:21.843896579Z")},
		{Name: "payments-dead", Partitions: 1, Retention: "168h", DedupWindow: "2m", SchemaPolicy: "none", CreatedAt: at("2026-11-30T04:54:21.851990304Z")},
	}
	if !reflect.DeepEqual(topics.Topics, want) {
		t.Fatalf("topics:\n%+v\nwant\n%+v", topics.Topics, want)
	}
	events := map[string][]string{
		"orders/0": {"e-02", "e-06", "e-10"}, "orders/1": {"e-03", "e-07", "e-11"},
		"orders/2":   {"e-01", "e-04", "e-05", "e-08", "e-09", "e-12"},
		"payments/0": {"p-03", "p-06"}, "payments/1": {"p-01", "p-02", "p-04", "p-05"},
		"orders.bykey.dlq/0": {"e-01@orders/bykey"}, "orders.bypart.dlq/0": nil,
		"payments-dead/0": {"p-03@payments/unordered", "p-01@payments/unordered", "p-02@payments/unordered"},
	}
	for tp, ids := range events {
		topic, p, _ := strings.Cut(tp, "/")
		var evs []map[string]any
		e.do("GET", "/v1/topics/"+topic+"/events?partition="+p+"&offset=0&limit=100", "").wantStatus(t, http.StatusOK, "application/cloudevents-batch+json", &evs)
		var got []string
		for _, ev := range evs {
			got = append(got, ev["id"].(string))
		}
		if !slices.Equal(got, ids) {
			t.Errorf("events of %s: %v, want %v", tp, got, ids)
		}
		if tp == "orders/2" {
			b, _ := json.Marshal(evs[1])
			const e04 = `{"data":{"orderId":"o4"},"datacontenttype":"application/json","id":"e-04","offset":1,"partition":2,"partitionkey":"k0",` +
				`"source":"/shop","specversion":"1.0","storedtime":"2026-11-30T04:54:21.846Z","subject":"eu/1","time":"2026-11-01T10:00:00Z","topic":"orders","type":"order.paid"}`
			if string(b) != e04 {
				t.Errorf("e-04: %s\nwant %s", b, e04)
			}
		}
	}

	// Publishing an id stored within the window is a duplicate; the
	// schema policy still holds.
	for _, c := range []struct{ topic, event, want string }{
		{"orders", `{"specversion":"1.0","id":"e-01","source":"/shop","type":"order.paid","partitionkey":"k1","data":{"orderId":"o1"}}`, "2/0"},
		{"payments", `{"specversion":"1.0","id":"p-01","source":"/pay","type":"payment.made","partitionkey":"a1","data":{"n":1}}`, "1/0"},
	} {
		res := e.do("POST", "/v1/topics/"+c.topic+"/events", c.event, ctStructured...).publishResults(t)
		if got := fmt.Sprintf("%d/%d", res[0].Partition, res[0].Offset); !res[0].Duplicate || got != c.want {
			t.Errorf("%s published again: %+v, want a duplicate at %s", c.topic, res[0], c.want)
		}
	}
	e.do("POST", "/v1/topics/orders/events", `{"specversion":"1.0","id":"bad","source":"/shop","type":"order.placed","data":{"orderId":5}}`,
		ctStructured...).wantProblem(t, http.StatusUnprocessableEntity, "schema_violation")

	// The schemas, and a version number an older Herald had given and
	// forgotten is not given again.
	reg := e.schemas
	if got := reg.Subjects(true); !slices.Equal(got, []string{"order.paid", "order.placed"}) {
		t.Errorf("subjects: %v", got)
	}
	if reg.GlobalCompatibility() != compat.Full {
		t.Errorf("global level %s, want FULL", reg.GlobalCompatibility())
	}
	if m, ok := reg.Compatibility("order.paid"); !ok || m != compat.None {
		t.Errorf("order.paid's level %s %v, want NONE", m, ok)
	}
	wantVersions := []schema.SchemaVersion{
		{Subject: "order.placed", Version: 1, ID: 1, Schema: `{"type":"object","properties":{"orderId":{"type":"string"}},"required":["orderId"],"additionalProperties":false}`},
		{Subject: "order.placed", Version: 2, ID: 2, Schema: `{"type":"object","properties":{"orderId":{"type":"string"},"total":{"type":"number"}},"required":["orderId"],"additionalProperties":false}`},
		{Subject: "order.paid", Version: 1, ID: 3, Schema: `{"type":"object","properties":{"orderId":{"type":"integer"}}}`, Deleted: true},
		{Subject: "order.paid", Version: 2, ID: 4, Schema: `{"type":"object","properties":{"orderId":{"type":"string"}}}`},
	}
	for _, w := range wantVersions {
		if v, err := reg.Version(w.Subject, w.Version, true); err != nil || v != w {
			t.Errorf("%s v%d: %+v %v, want %+v", w.Subject, w.Version, v, err, w)
		}
	}
	r := e.do("POST", "/schema-registry/subjects/legacy.thing/versions", `{"schema":"{\"type\":\"object\",\"title\":\"legacy3\"}"}`,
		"Content-Type", mediaRegistry)
	if r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != `{"id":7,"version":3}` {
		t.Errorf("legacy.thing registered again: %d %s, want id 7 version 3", r.status, r.body)
	}
}

func TestUpgrade_AnOlderHeraldsSubscriptionsKeepTheirPositionsRetriesAndDeadLetters(t *testing.T) {
	e := openUpgraded(t)
	type part struct{ committed, end, dead int64 }
	subs := []struct {
		path      string
		cfg       SubscriptionConfig
		created   string
		parts     []part
		redriving int
	}{
		{"orders/subscriptions/bykey", SubscriptionConfig{Start: "earliest", AckTimeout: "30s", MaxAttempts: 3,
			Backoff: BackoffConfig{"1s", "1s", 1}, Ordering: "key", Filter: FilterConfig{[]string{"order.placed", "order.paid"}, []string{}, ""},
			DeadLetterTopic: "orders.bykey.dlq"}, "2026-11-30T04:54:21.849437637Z", []part{{1, 3, 0}, {0, 3, 0}, {1, 6, 1}}, 0},
		{"orders/subscriptions/bypart", SubscriptionConfig{Start: "earliest", AckTimeout: "10m", MaxAttempts: 2,
			Backoff: BackoffConfig{"1s", "5m", 2}, Ordering: "partition", Filter: FilterConfig{[]string{}, []string{}, "eu/"},
			DeadLetterTopic: "orders.bypart.dlq"}, "2026-11-30T04:54:21.851354268Z", []part{{1, 3, 0}, {-1, 3, 0}, {6, 6, 0}}, 0},
		{"payments/subscriptions/unordered", SubscriptionConfig{Start: "earliest", AckTimeout: "30s", MaxAttempts: 2,
			Backoff: BackoffConfig{"1s", "1s", 1}, Ordering: "none", Filter: FilterConfig{[]string{}, []string{"/pay*"}, ""},
			DeadLetterTopic: "payments-dead"}, "2026-11-30T04:54:21.853175447Z", []part{{1, 2, 1}, {4, 4, 2}}, 1},
	}
	for _, s := range subs {
		var got Subscription
		e.getJSON("/v1/topics/"+s.path, &got)
		if !reflect.DeepEqual(got.Config, s.cfg) || !got.CreatedAt.Equal(at(s.created)) || got.Redriving != s.redriving {
			t.Errorf("%s: %+v created %s redriving %d\nwant %+v created %s redriving %d", s.path, got.Config, got.CreatedAt, got.Redriving, s.cfg, s.created, s.redriving)
		}
		var parts []part
		for i, p := range got.Partitions {
			if i < len(s.parts) && s.parts[i].committed < 0 {
				// bypart's filter takes no event of partition 1: passing
				// them is not recorded, and the next pull passes them
				// again (checked below).
				p.CommittedOffset = -1
			}
			parts = append(parts, part{p.CommittedOffset, p.EndOffset, p.DeadLettered})
		}
		if !slices.Equal(parts, s.parts) {
			t.Errorf("%s: partitions %v, want (committed, end, dead) %v", s.path, parts, s.parts)
		}
	}

	// The dead letters, what their redrives left, and who redrove them.
	deadLetters := func(path string) string {
		var l DeadLetterList
		e.getJSON("/v1/topics/"+path+"/deadletters", &l)
		var out []string
		for _, d := range l.DeadLetters {
			x := d.Event.Extensions
			out = append(out, fmt.Sprintf("%d/%d %s %s/%s %s %s/%s redriving=%v resolved=%v", d.Partition, d.Offset, d.Event.ID,
				x["deadpartition"], x["deadoffset"], x["deadreason"], x["deadattempts"], x["deadsubscription"], d.Redriving, d.Resolved))
		}
		return strings.Join(out, "\n")
	}
	if got, want := deadLetters("orders/subscriptions/bykey"), "0/0 e-01@orders/bykey 2/0 poison 3/bykey redriving=false resolved=false"; got != want {
		t.Errorf("dead letters of bykey:\n%s\nwant\n%s", got, want)
	}
	const unorderedDead = "0/0 p-03@payments/unordered 0/0 poison 2/unordered redriving=false resolved=false\n" +
		"0/1 p-01@payments/unordered 1/0 poison 2/unordered redriving=false resolved=true\n" +
		"0/2 p-02@payments/unordered 1/1 poison 2/unordered redriving=true resolved=false"
	if got := deadLetters("payments/subscriptions/unordered"); got != unorderedDead {
		t.Errorf("dead letters of unordered:\n%s\nwant\n%s", got, unorderedDead)
	}
	var audit RedriveLog
	e.getJSON("/v1/topics/payments/subscriptions/unordered/redrives", &audit)
	wantAudit := []Redrive{
		{Actor: "alice", At: at("2026-11-30T04:54:32.376270753Z"), IDs: []string{"p-01"}, Count: 1},
		{Actor: "bob", At: at("2026-11-30T04:54:32.37743148Z"), IDs: []string{"p-02"}, Count: 1},
	}
	if !reflect.DeepEqual(audit.Redrives, wantAudit) {
		t.Errorf("redrives: %+v\nwant %+v", audit.Redrives, wantAudit)
	}

	// A redrive of all leaves out the resolved p-01 and the p-02 on its way.
	var rr RedriveReply
	e.do("POST", "/v1/topics/payments/subscriptions/unordered/redrive", `{"all":true,"actor":"carol"}`).wantStatus(t, http.StatusOK, mediaJSON, &rr)
	if rr.Redriven != 1 || rr.AlreadyRedriving != 1 || rr.AlreadyResolved != 1 {
		t.Errorf("redrive of all: %+v, want p-03 redriven, p-02 already redriving, p-01 resolved", rr)
	}

	// Pulls go on where they were: a retry with the attempts it had, an
	// event in flight at the stop once more, what waited behind them at
	// its first attempt; nothing acked comes again.
	rounds := []struct{ sub, want string }{
		{"orders/subscriptions/bykey", "e-03#2 e-04#3 e-06#2"},
		{"orders/subscriptions/bykey", "e-07#1 e-10#1 e-12#1"},
		{"orders/subscriptions/bypart", "e-06#2"},
		{"orders/subscriptions/bypart", "e-10#1"},
		{"payments/subscriptions/unordered", "p-02#2 p-03#1 p-06#2"},
	}
	for _, sub := range []string{"orders/subscriptions/bykey", "orders/subscriptions/bypart", "payments/subscriptions/unordered"} {
		rounds = append(rounds, struct{ sub, want string }{sub, ""})
	}
	for _, r := range rounds {
		var pr PullReply
		e.do("POST", "/v1/topics/"+r.sub+"/pull", `{"max":100}`).wantStatus(t, http.StatusOK, mediaJSON, &pr)
		var got, ids []string
		for _, d := range pr.Deliveries {
			got = append(got, fmt.Sprintf("%s#%d", d.Event.ID, d.Attempt))
			ids = append(ids, d.AckID)
		}
		slices.Sort(got)
		if strings.Join(got, " ") != r.want {
			t.Fatalf("pull of %s: %v, want %s", r.sub, got, r.want)
		}
		if len(ids) > 0 {
			body, _ := json.Marshal(AckRequest{AckIDs: ids})
			var ar AckReply
			e.do("POST", "/v1/topics/"+r.sub+"/ack", string(body)).wantStatus(t, http.StatusOK, mediaJSON, &ar)
			if len(ar.Acked) != len(ids) {
				t.Fatalf("ack of %s: %+v", r.sub, ar)
			}
		}
	}
	for _, topic := range []string{"orders", "payments"} {
		ends := e.endOffsets(topic)
		var l SubscriptionList
		e.getJSON("/v1/topics/"+topic+"/subscriptions", &l)
		for _, s := range l.Subscriptions {
			for _, p := range s.Partitions {
				if p.CommittedOffset != ends[p.Partition] {
					t.Errorf("%s/%s partition %d: committed %d, want %d", topic, s.Name, p.Partition, p.CommittedOffset, ends[p.Partition])
				}
			}
		}
	}
	e.do("POST", "/v1/topics/payments/subscriptions/unordered/redrive", `{"all":true}`).wantStatus(t, http.StatusOK, mediaJSON, &rr)
	if rr.Redriven != 0 || rr.AlreadyResolved != 3 {
		t.Errorf("redrive of all once every dead letter is acked: %+v, want 3 resolved", rr)
	}
}
