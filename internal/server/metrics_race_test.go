package server

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/heraldevents/herald/internal/broker"
)

// Scrapes while topics are published to, consumed, deleted and made
// again: no race, and each scrape parses.
func TestMetrics_ScrapeWhileTopicsComeAndGo(t *testing.T) {
	e := newEnv(t, broker.Options{}, Options{})
	send := func(method, path, body string, header ...string) {
		req, _ := http.NewRequest(method, e.url+path, strings.NewReader(body))
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 3 {
		wg.Go(func() {
			topic := fmt.Sprintf("t%d", w)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				send("PUT", "/v1/topics/"+topic, `{"partitions":3}`)
				send("PUT", "/v1/topics/"+topic+"/subscriptions/s", `{"start":"earliest","maxAttempts":1}`)
				send("POST", "/v1/topics/"+topic+"/events", structured(fmt.Sprint(i)), ctStructured...)
				send("POST", "/v1/topics/"+topic+"/subscriptions/s/pull", `{"max":5}`)
				send("DELETE", "/v1/topics/"+topic, "")
			}
		})
	}
	for range 30 {
		e.scrapeMetrics(t)
	}
	close(stop)
	wg.Wait()
}
