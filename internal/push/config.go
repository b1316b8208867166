package push

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// ErrInvalidConfig wraps every error of Config.Check.
var ErrInvalidConfig = errors.New("invalid push setting")

// Defaults and bounds of Config.
const (
	DefaultMaxInFlight = 16
	DefaultTimeout     = 10 * time.Second
	maxMaxInFlight     = 1000
	minTimeout         = time.Second
	maxTimeout         = 5 * time.Minute
)

// Config is where and how a subscription's events are pushed. Zero fields
// take the defaults.
type Config struct {
	URL         string        `json:"url"`                   // absolute http or https URL
	Secret      string        `json:"secret,omitempty"`      // signs each request (Herald-Signature); optional but recommended
	MaxInFlight int           `json:"maxInFlight,omitempty"` // POSTs at once, 1..1000; default 16
	Timeout     time.Duration `json:"timeout,omitempty"`     // per POST, 1s..5m; default 10s
}

// WithDefaults returns a copy of c with unset fields defaulted.
func (c Config) WithDefaults() Config {
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// Check returns a clear error, wrapping ErrInvalidConfig, for a setting
// that cannot work. Zero fields are checked as their defaults.
func (c Config) Check() error {
	c = c.WithDefaults()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if err := checkURL(c.URL); err != nil {
		return bad("url: %s", err)
	}
	switch {
	case c.MaxInFlight < 1 || c.MaxInFlight > maxMaxInFlight:
		return bad("maxInFlight must be between 1 and %d, got %d", maxMaxInFlight, c.MaxInFlight)
	case c.Timeout < minTimeout || c.Timeout > maxTimeout:
		return bad("timeout must be between %s and %s, got %s", minTimeout, maxTimeout, c.Timeout)
	}
	return nil
}

// checkURL accepts an absolute http or https URL with a host.
func checkURL(s string) error {
	if s == "" {
		return errors.New("required: the absolute http or https URL to POST events to")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q does not parse: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: the scheme must be http or https", s)
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", s)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q: the port must be between 1 and 65535", s)
		}
	}
	if u.Fragment != "" {
		return fmt.Errorf("%q has a fragment, which is never sent", s)
	}
	return nil
}
