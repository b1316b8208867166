package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/pflag"
)

// serveSettings are the settings of `herald serve`. Each comes, in order
// of precedence, from its flag, its environment variable HERALD_<FLAG>
// (upper snake case), the JSON config file (keys are flag names), or the
// default.
type serveSettings struct {
	Addr              string
	Data              string
	Fsync             choice
	AutoCreateTopics  bool
	DefaultPartitions int
	MaxEventBytes     int
	LogLevel          choice
	Token             string // API tokens, comma-separated; never logged
	AuthFile          string // tokens with grants (internal/auth.File)
	Insecure          bool   // allow a non-loopback address without authentication
	MaxConnections    int
	ReadHeaderTimeout time.Duration
	MaxTopics         int
	MaxSubscriptions  int
	MaxWaiting        int
	MaxPublishBytes   int64
	TLSCert, TLSKey   string
	TLSClientCA       string // verify client certificates against this CA (mutual TLS)
	Pprof             string // address of the profiling endpoints; empty: none
	Config            string // not itself read from the config file
}

// configFlag names the flag of the config file path.
const configFlag = "config"

// addServeFlags defines the serve flags on fs, bound to s.
func addServeFlags(fs *pflag.FlagSet, s *serveSettings) {
	s.Fsync = choice{value: "always", allowed: []string{"always", "interval", "none"}}
	s.LogLevel = choice{value: "info", allowed: []string{"debug", "info", "warn", "error"}}
	fs.StringVar(&s.Addr, "addr", "127.0.0.1:7440", "address to listen on (port 0 picks a free port)")
	fs.StringVar(&s.Data, "data", "./herald-data", "data directory")
	fs.Var(&s.Fsync, "fsync", "when to fsync appended events: always (before acknowledging), interval (every second) or none (when a segment is full and on shutdown)")
	fs.BoolVar(&s.AutoCreateTopics, "auto-create-topics", true, "create unknown topics on first publish")
	fs.IntVar(&s.DefaultPartitions, "default-partitions", 1, "partitions of topics created without a partition count (by PUT or on first publish), 1 to 10000")
	fs.IntVar(&s.MaxEventBytes, "max-event-bytes", 1<<20, "largest event accepted, in stored bytes (at most 33554432, 32 MiB)")
	fs.Var(&s.LogLevel, "log-level", "log level: debug (includes access logs), info, warn or error")
	fs.StringVar(&s.Token, "token", "", "API tokens clients must send as \"Authorization: Bearer TOKEN\", comma-separated (give several to rotate); empty: no authentication. Prefer HERALD_TOKEN: flags show in ps")
	fs.StringVar(&s.AuthFile, "auth-file", "", "JSON file of API tokens (as SHA-256 hashes) and what each may do on which topics (see docs/api.md#authentication); herald token create makes entries")
	fs.DurationVar(&s.ReadHeaderTimeout, "read-header-timeout", 10*time.Second, "time a client has to send a request's headers (more than 0, e.g. 10s); slower connections are closed (slowloris)")
	fs.IntVar(&s.MaxConnections, "max-connections", 10000, "connections open at once; one more gets 503 and is closed (0: no limit)")
	fs.IntVar(&s.MaxTopics, "max-topics", 10000, "topics the server holds, dead-letter topics included (0: no limit)")
	fs.IntVar(&s.MaxSubscriptions, "max-subscriptions", 10000, "subscriptions the server holds (0: no limit)")
	fs.IntVar(&s.MaxWaiting, "max-waiting", 1024, "long polls, waiting reads and delivery streams at once (at least 1); more get 429")
	fs.Int64Var(&s.MaxPublishBytes, "max-publish-bytes", 256<<20, "bytes of publish requests handled at once (at least 1); more get 429 with Retry-After")
	fs.BoolVar(&s.Insecure, "insecure", false, "allow listening on a non-loopback address without --token, --auth-file or --tls-client-ca, and --pprof on one")
	fs.StringVar(&s.TLSCert, "tls-cert", "", "PEM certificate file: serve HTTPS (HTTP/1.1 and HTTP/2, gRPC included) instead of cleartext")
	fs.StringVar(&s.TLSKey, "tls-key", "", "PEM private key file of --tls-cert")
	fs.StringVar(&s.TLSClientCA, "tls-client-ca", "", "PEM CA certificates: require every client to present a certificate they signed (mutual TLS)")
	fs.StringVar(&s.Pprof, "pprof", "", "serve Go's profiling endpoints (/debug/pprof/; contended locks and blocking are sampled too) on this address, e.g. 127.0.0.1:6060; empty: off. Loopback only unless --insecure: it needs no token")
	fs.StringVar(&s.Config, configFlag, "", "JSON config file whose keys are flag names, e.g. {\"fsync\": \"interval\"}")
}

// envName is the environment variable of a flag: HERALD_MAX_EVENT_BYTES.
func envName(flag string) string {
	return "HERALD_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// resolveServeSettings fills the flags of fs that were not given on the
// command line from the environment, then the config file, and checks
// the result.
func resolveServeSettings(fs *pflag.FlagSet, s *serveSettings, getenv func(string) string) error {
	if !fs.Changed(configFlag) {
		s.Config = getenv(envName(configFlag))
	}
	file, err := readConfigFile(fs, s.Config)
	if err != nil {
		return err
	}
	var setErr error
	fs.VisitAll(func(f *pflag.Flag) {
		if setErr != nil || f.Changed || f.Name == configFlag || f.Name == "help" {
			return
		}
		if v := getenv(envName(f.Name)); v != "" {
			setErr = setFrom(f, v, envName(f.Name))
		} else if v, ok := file[f.Name]; ok {
			setErr = setFrom(f, v, fmt.Sprintf("config file %s: %q", s.Config, f.Name))
		}
	})
	if setErr != nil {
		return setErr
	}
	return s.check()
}

func setFrom(f *pflag.Flag, value, source string) error {
	if err := f.Value.Set(value); err != nil {
		return fmt.Errorf("%s=%q: %w", source, value, err)
	}
	return nil
}

// readConfigFile reads a JSON object of flag names to values. Values are
// strings, numbers or booleans; unknown keys are errors.
func readConfigFile(fs *pflag.FlagSet, path string) (map[string]string, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("config file %s: must be a JSON object of settings: %w", path, err)
	}
	out := make(map[string]string, len(raw))
	for key, v := range raw {
		if f := fs.Lookup(key); f == nil || key == configFlag || key == "help" {
			return nil, fmt.Errorf("config file %s: unknown setting %q (known: %s)", path, key, knownSettings(fs))
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			if s = string(v); s == "null" || strings.ContainsAny(s[:1], "[{") {
				return nil, fmt.Errorf("config file %s: %q must be a string, number or boolean", path, key)
			}
		}
		out[key] = s
	}
	return out, nil
}

func knownSettings(fs *pflag.FlagSet) string {
	var names []string
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name != configFlag && f.Name != "help" {
			names = append(names, f.Name)
		}
	})
	return strings.Join(names, ", ")
}

// maxEventBytesLimit keeps one event well inside the log's 64 MiB batch
// limit.
const maxEventBytesLimit = 32 << 20

// check validates settings that no flag type checks.
func (s *serveSettings) check() error {
	if err := s.checkLimits(); err != nil {
		return err
	}
	switch {
	case s.Addr == "":
		return fmt.Errorf("--addr must not be empty")
	case badAddr(s.Addr) != nil:
		return fmt.Errorf("--addr %s: %w", s.Addr, badAddr(s.Addr))
	case s.Data == "":
		return fmt.Errorf("--data must not be empty")
	case s.Token != "" && len(s.tokens()) == 0:
		// Only commas and blanks: the server would run without tokens.
		return fmt.Errorf("--token %q holds no token: give one or more, comma-separated, or leave it out to run without tokens", s.Token)
	case slices.ContainsFunc(s.tokens(), func(t string) bool { return strings.ContainsFunc(t, unicode.IsControl) }):
		return errors.New("--token: a token holds a control character, which no client can send in a header: give the tokens alone")
	case s.DefaultPartitions < 1 || s.DefaultPartitions > 10000:
		return fmt.Errorf("--default-partitions %d: must be from 1 to 10000", s.DefaultPartitions)
	case s.MaxEventBytes < 1 || s.MaxEventBytes > maxEventBytesLimit:
		return fmt.Errorf("--max-event-bytes %d: must be from 1 to %d", s.MaxEventBytes, maxEventBytesLimit)
	case (s.TLSCert == "") != (s.TLSKey == ""):
		return fmt.Errorf("--tls-cert and --tls-key go together: give both or neither")
	case s.TLSClientCA != "" && s.TLSCert == "":
		return fmt.Errorf("--tls-client-ca needs --tls-cert and --tls-key: mutual TLS is TLS first")
	case s.Pprof != "" && badAddr(s.Pprof) != nil:
		return fmt.Errorf("--pprof %s: %w", s.Pprof, badAddr(s.Pprof))
	case s.Pprof != "" && !s.Insecure && !isLoopback(s.Pprof):
		return fmt.Errorf("--pprof %s is reachable from other machines, and the profiling endpoints ask no token (and show the command line): give a loopback address, or --insecure to expose them anyway", s.Pprof)
	case !s.Insecure && len(s.tokens()) == 0 && s.AuthFile == "" && s.TLSClientCA == "" && !isLoopback(s.Addr):
		return fmt.Errorf("--addr %s is reachable from other machines and nothing asks who is calling: give --token, --auth-file or --tls-client-ca, or --insecure to run without authentication anyway", s.Addr)
	}
	return nil
}

// checkLimits refuses limits that cannot mean what was given: negative
// counts (0 is no limit where the flag says so), and budgets and timeouts
// of zero or less.
func (s *serveSettings) checkLimits() error {
	for _, l := range []struct {
		flag string
		n    int64
	}{{"max-connections", int64(s.MaxConnections)}, {"max-topics", int64(s.MaxTopics)}, {"max-subscriptions", int64(s.MaxSubscriptions)}} {
		if l.n < 0 {
			return fmt.Errorf("--%s %d: must be 0 (no limit) or more", l.flag, l.n)
		}
	}
	switch {
	case s.MaxWaiting < 1:
		return fmt.Errorf("--max-waiting %d: must be 1 or more", s.MaxWaiting)
	case s.MaxPublishBytes < 1:
		return fmt.Errorf("--max-publish-bytes %d: must be 1 or more", s.MaxPublishBytes)
	case s.ReadHeaderTimeout <= 0:
		return fmt.Errorf("--read-header-timeout %s: must be more than 0", s.ReadHeaderTimeout)
	}
	return nil
}

// badAddr says what is wrong with an address that is not host:port.
func badAddr(addr string) error {
	_, _, err := net.SplitHostPort(addr)
	if ae := (*net.AddrError)(nil); errors.As(err, &ae) {
		return errors.New(ae.Err) // the address itself is in the message already
	}
	return err
}

// isLoopback reports whether addr (host:port) listens on loopback only.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// tokens splits --token into the accepted API tokens.
func (s *serveSettings) tokens() []string {
	var ts []string
	for _, t := range strings.Split(s.Token, ",") {
		if t = strings.TrimSpace(t); t != "" {
			ts = append(ts, t)
		}
	}
	return ts
}

// choice is a flag value from a fixed set.
type choice struct {
	value   string
	allowed []string
}

func (c *choice) String() string { return c.value }
func (c *choice) Type() string   { return "string" }

func (c *choice) Set(v string) error {
	if !slices.Contains(c.allowed, v) {
		return fmt.Errorf("want one of %s", strings.Join(c.allowed, ", "))
	}
	c.value = v
	return nil
}
