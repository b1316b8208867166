package push

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestConfig_Check(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want string // part of the error; "" for none
	}{
		{"defaults", Config{URL: "https://example.com/hook"}, ""},
		{"http with port and query", Config{URL: "http://127.0.0.1:8080/h?x=1", MaxInFlight: 1000, Timeout: 5 * time.Minute}, ""},
		{"no URL", Config{}, "url: required"},
		{"relative URL", Config{URL: "/hook"}, "scheme must be http or https"},
		{"other scheme", Config{URL: "ftp://example.com/"}, "scheme must be http or https"},
		{"no host", Config{URL: "http:///hook"}, "no host"},
		{"port out of range", Config{URL: "http://example.com:70000/hook"}, "port"},
		{"port zero", Config{URL: "http://example.com:0/hook"}, "port"},
		{"fragment", Config{URL: "https://example.com/#x"}, "fragment"},
		{"unparsable", Config{URL: "http://[::1"}, "does not parse"},
		{"negative in flight", Config{URL: "https://e.com", MaxInFlight: -1}, "maxInFlight must be between 1 and 1000"},
		{"too many in flight", Config{URL: "https://e.com", MaxInFlight: 1001}, "maxInFlight"},
		{"timeout too short", Config{URL: "https://e.com", Timeout: 500 * time.Millisecond}, "timeout must be between 1s and 5m0s"},
		{"timeout too long", Config{URL: "https://e.com", Timeout: 6 * time.Minute}, "timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Check()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Check = %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalidConfig)):
				t.Errorf("Check = %v, want an ErrInvalidConfig with %q", err, tc.want)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		name   string
		status int
		value  string
		want   time.Duration
	}{
		{"seconds on 503", 503, "7", 7 * time.Second},
		{"seconds on 429", 429, " 2 ", 2 * time.Second},
		{"date", 503, now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"date in the past", 503, now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"capped", 429, "86400", maxRetryAfter},
		{"past int64: capped too", 503, "99999999999999999999", maxRetryAfter},
		{"negative", 429, "-5", 0},
		{"garbage", 503, "soon", 0},
		{"absent", 503, "", 0},
		{"ignored on 500", 500, "7", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tc.status, Header: http.Header{}}
			if tc.value != "" {
				resp.Header.Set("Retry-After", tc.value)
			}
			if got := retryAfter(resp, now); got != tc.want {
				t.Errorf("retryAfter = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestStatusReason(t *testing.T) {
	long := strings.Repeat("é", 150) // 300 bytes
	cases := []struct {
		name, ct, body string
		status         int
		want           string
	}{
		{"plain text", "text/plain; charset=utf-8", "database down\nstack…", 500, "push: 500 Internal Server Error: database down"},
		{"JSON", "application/problem+json", `{"title":"busy"}`, 503, `push: 503 Service Unavailable: {"title":"busy"}`},
		{"HTML is not quoted", "text/html", "<h1>oops</h1>", 502, "push: 502 Bad Gateway"},
		{"binary is not quoted", "application/octet-stream", "x", 400, "push: 400 Bad Request"},
		{"control characters", "text/plain", "a\tb\x00c", 409, "push: 409 Conflict: a b c"},
		{"unknown status", "", "", 599, "push: 599"},
		{"a redirect is a failure", "", "", 302, "push: 302 Found"},
		{"long", "text/plain", long, 500, "push: 500 Internal Server Error: " + strings.Repeat("é", 100) + "…"},
		// The reply is read up to maxReplyRead bytes, which may end inside a character.
		{"read up to inside a character", "text/plain", ("database down\n" + long)[:14+len(long)-1], 500, "push: 500 Internal Server Error: database down"},
		{"first line read up to inside a character", "text/plain", long[:len(long)-1], 500, "push: 500 Internal Server Error: " + strings.Repeat("é", 100) + "…"},
		{"not UTF-8", "text/plain", "data\xffbase down", 500, "push: 500 Internal Server Error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tc.status, Header: http.Header{"Content-Type": {tc.ct}}}
			if got := statusReason(resp, []byte(tc.body)); got != tc.want {
				t.Errorf("reason %q, want %q", got, tc.want)
			}
		})
	}
}
