package server

import (
	"context"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/heraldevents/herald/internal/broker"
	heraldv1 "github.com/heraldevents/herald/internal/rpc/heraldv1"
	"github.com/heraldevents/herald/internal/rpc/heraldv1/heraldv1connect"
)

// metricsTraffic makes a series of every herald_ metric.
func metricsTraffic(t *testing.T) *testEnv {
	t.Helper()
	e := newEnv(t, broker.Options{}, Options{})
	e.createTopic("orders", "")
	e.putSub(t, subPath, `{"start":"earliest","maxAttempts":1}`, http.StatusCreated)
	e.publishN(t, 0, 2)
	ds := e.pull(t, `{"max":2}`)
	e.settle(t, "ack", ackBody(ds[0]))
	e.settle(t, "nack", ackBody(ds[1]))
	client := heraldv1connect.NewHeraldServiceClient(http.DefaultClient, e.url)
	if _, err := client.GetTopic(context.Background(), connect.NewRequest(&heraldv1.GetTopicRequest{Name: "orders"})); err != nil {
		t.Fatal(err)
	}
	return e
}

// The metrics pass Prometheus's own lint (promtool check metrics): names,
// suffixes, units, types and help.
func TestMetrics_PassPrometheusLint(t *testing.T) {
	e := metricsTraffic(t)
	problems, err := testutil.GatherAndLint(e.srv.metrics.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// docs/api.md's table of metrics lists exactly the herald_ metrics the
// server has, each with its type and labels.
func TestMetrics_DocsListEveryMetricWithItsTypeAndLabels(t *testing.T) {
	e := metricsTraffic(t)
	families, err := e.srv.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `(herald_[a-z_]+)` \\| ([a-z]+) \\| ([^|]*) \\|")
	documented := map[string]string{} // name: "type labels"
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		labels := strings.Fields(strings.NewReplacer("`", "", ",", "").Replace(m[3]))
		slices.Sort(labels)
		documented[m[1]] = m[2] + " " + strings.Join(labels, " ")
	}
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "herald_") {
			continue
		}
		var labels []string
		for _, l := range f.GetMetric()[0].GetLabel() {
			labels = append(labels, l.GetName())
		}
		slices.Sort(labels)
		got := strings.ToLower(dto.MetricType_name[int32(f.GetType())]) + " " + strings.Join(labels, " ")
		want, ok := documented[f.GetName()]
		delete(documented, f.GetName())
		switch {
		case !ok:
			t.Errorf("%s (%s) is not in the metrics table of docs/api.md", f.GetName(), got)
		case got != want:
			t.Errorf("%s is %s, docs/api.md says %s", f.GetName(), got, want)
		}
	}
	for name := range documented {
		t.Errorf("docs/api.md lists %s, which the server does not have", name)
	}
}
