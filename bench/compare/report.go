package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

func netDial(addr string) (net.Conn, error) {
	return net.DialTimeout("tcp", addr, 200*time.Millisecond)
}

// The markers between which the comparison is written into the docs.
const (
	beginMarker = "<!-- compare-nats:begin (written by bench/compare-nats.sh) -->"
	endMarker   = "<!-- compare-nats:end -->"
)

// render is the comparison as markdown: one row per workload, the median
// of each system, and Herald's ratio to each JetStream mode.
func render(results map[string]map[string][]float64, peak, held map[string][]float64, machine string, rounds int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Machine: %s. %d rounds, medians; the runs of each are in parentheses. Measured %s.\n\n",
		machine, rounds, time.Now().UTC().Format("2006-01-02"))
	b.WriteString("| workload | Herald (fsync always) | JetStream (default, no fsync) | JetStream (sync always) | Herald / default | Herald / sync always |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, w := range workloads() {
		r := results[w.key]
		cell := func(sys string) string {
			if len(r[sys]) == 0 {
				return "not measured"
			}
			c := fmt.Sprintf("%s %s (%s)", num(median(r[sys])), w.unit, runs(r[sys]))
			if w.key == "lat99" && notHeld(median(held[sys])) {
				c += fmt.Sprintf("; held only %s of %s events/s, so a backlog grew", num(median(held[sys])), num(latencyRate))
			}
			return c
		}
		ratio := func(sys string) string {
			h, o := median(r["herald"]), median(r[sys])
			if h == 0 || o == 0 {
				return ""
			}
			if w.key == "lat99" && (notHeld(median(held["herald"])) || notHeld(median(held[sys]))) {
				return "not comparable (rate not held)"
			}
			if w.unit == "ms" {
				return fmt.Sprintf("%.2fx (lower is better)", h/o)
			}
			return fmt.Sprintf("%.2fx", h/o)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", w.name, cell("herald"), cell("nats"), cell("nats-always"), ratio("nats"), ratio("nats-always"))
	}
	fmt.Fprintf(&b, "| peak server RSS during the 1 KiB publish | %s MiB | %s MiB | %s MiB | | |\n",
		num(median(peak["herald"])), num(median(peak["nats"])), num(median(peak["nats-always"])))
	b.WriteString("\n![Herald and JetStream side by side](compare-nats.png)\n")
	return b.String()
}

func num(v float64) string {
	if v >= 100 {
		return commas(int64(v + 0.5))
	}
	return fmt.Sprintf("%.2f", v)
}

func runs(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = num(x)
	}
	return strings.Join(s, " / ")
}

func commas(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// writeDocs replaces what lies between the markers in file with table
// (appending a section with the markers when there are none).
func writeDocs(file, table string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	s := string(b)
	block := beginMarker + "\n" + table + endMarker
	i, j := strings.Index(s, beginMarker), strings.Index(s, endMarker)
	if i < 0 || j < i {
		s = strings.TrimRight(s, "\n") + "\n\n## Herald and NATS JetStream, side by side\n\n`bench/compare-nats.sh` (rounds alternate the three servers, each on a fresh store):\n\n" + block + "\n"
	} else {
		s = s[:i] + block + s[j+len(endMarker):]
	}
	return os.WriteFile(file, []byte(s), 0o644)
}

// chart draws the throughput workloads as grouped bars, in thousands of
// events per second.
func chart(file string, results map[string]map[string][]float64) error {
	p := plot.New()
	p.Title.Text = "Herald and NATS JetStream, 1 machine (higher is better)"
	p.Y.Label.Text = "thousand events/s (median)"
	var names []string
	var keys []string
	for _, w := range workloads() {
		if w.unit == "events/s" {
			// "consume + ack, 1 KiB, key order" on two lines: one line each
			// ran into its neighbours.
			names, keys = append(names, strings.Replace(w.name, ", ", "\n", 1)), append(keys, w.key)
		}
	}
	width := vg.Points(18)
	top := 0.0
	for i, sys := range []struct{ key, label string }{{"herald", "Herald (fsync always)"}, {"nats", "JetStream (default)"}, {"nats-always", "JetStream (sync always)"}} {
		vals := make(plotter.Values, len(keys))
		for j, k := range keys {
			vals[j] = median(results[k][sys.key]) / 1000
			top = max(top, vals[j])
		}
		bars, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return err
		}
		bars.Color = plotutil.Color(i)
		bars.Offset = vg.Length(i-1) * width
		p.Add(bars)
		p.Legend.Add(sys.label, bars)
	}
	p.Y.Min, p.Y.Max = 0, top*1.4 // room for the legend above the bars
	p.Legend.Top, p.Legend.Left = true, true
	p.NominalX(names...)
	return p.Save(8*vg.Inch, 4*vg.Inch, file)
}
