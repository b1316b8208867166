// Package auth is who may do what on a Herald server: API tokens, stored
// as SHA-256 hashes, each naming a principal with grants of actions on
// topic patterns.
//
// Actions: publish (store events), consume (read the log and take, settle
// and inspect a subscription's deliveries) and admin (create, change and
// delete topics, also one a first publish would create, and subscriptions,
// move and redrive subscriptions, and anything else); admin implies the other two. A topic pattern is a topic
// name in which '*' stands for any characters ("orders*", "*"). Global
// operations (the schema registry's changes) need admin on "*".
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// Action is what a grant allows.
type Action string

// The actions.
const (
	Publish Action = "publish"
	Consume Action = "consume"
	Admin   Action = "admin"
)

// ErrForbidden is a request whose token lacks the permission it needs.
var ErrForbidden = errors.New("forbidden")

// Grant allows actions on the topics a pattern matches.
type Grant struct {
	Topics  string   `json:"topics"`
	Actions []Action `json:"actions"`
}

// Principal is who a token speaks for.
type Principal struct {
	Name   string
	Grants []Grant
}

// Allowed reports whether p may do a on topic.
func (p *Principal) Allowed(a Action, topic string) bool {
	for _, g := range p.Grants {
		if !match(g.Topics, topic) {
			continue
		}
		for _, ga := range g.Actions {
			if ga == a || ga == Admin {
				return true
			}
		}
	}
	return false
}

// AllowedAny reports whether p may do anything on topic.
func (p *Principal) AllowedAny(topic string) bool {
	return p.Allowed(Publish, topic) || p.Allowed(Consume, topic)
}

// match reports whether a topic pattern ('*' = any characters) matches
// name. path.Match's other metacharacters cannot occur in topic names nor
// in checked patterns, and '/' never does, so '*' spans the whole name.
func match(pattern, name string) bool {
	ok, err := path.Match(pattern, name)
	return err == nil && ok
}

// Keyring maps tokens to principals. The tokens themselves are not kept.
type Keyring struct {
	keys []key
}

type key struct {
	hash [sha256.Size]byte
	p    *Principal
}

// Empty reports whether the keyring has no tokens (authentication off).
func (k *Keyring) Empty() bool { return k == nil || len(k.keys) == 0 }

// AddToken adds a token that may do everything (admin on "*").
func (k *Keyring) AddToken(name, token string) {
	k.keys = append(k.keys, key{hash: sha256.Sum256([]byte(token)),
		p: &Principal{Name: name, Grants: []Grant{{Topics: "*", Actions: []Action{Admin}}}}})
}

// Lookup returns the principal of a token, comparing every stored hash in
// constant time, so the answer's timing says nothing of how close a guess
// came.
func (k *Keyring) Lookup(token string) (*Principal, bool) {
	if k == nil || token == "" { // no token: a request without one is not let in by any entry
		return nil, false
	}
	h := sha256.Sum256([]byte(token))
	var found *Principal
	for i := range k.keys {
		if subtle.ConstantTimeCompare(h[:], k.keys[i].hash[:]) == 1 {
			found = k.keys[i].p
		}
	}
	return found, found != nil
}

// File is the JSON of an --auth-file:
//
//	{"tokens": [{"name": "billing", "sha256": "<hex SHA-256 of the token>",
//	             "grants": [{"topics": "orders*", "actions": ["consume"]}]}]}
type File struct {
	Tokens []FileToken `json:"tokens"`
}

// FileToken is one token of an auth file.
type FileToken struct {
	Name   string  `json:"name"`
	SHA256 string  `json:"sha256"`
	Grants []Grant `json:"grants"`
}

// LoadFile reads and checks an auth file into k.
func (k *Keyring) LoadFile(name string) error {
	b, err := os.ReadFile(name)
	if err != nil {
		return fmt.Errorf("auth file: %w", err)
	}
	var f File
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("auth file %s: %w", name, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("auth file %s: something follows after the JSON object; keep every token in its one \"tokens\" list", name)
	}
	if len(f.Tokens) == 0 {
		// With no token the keyring could be empty, which means no
		// authentication: the opposite of what an auth file asks for.
		return fmt.Errorf(`auth file %s: no tokens: list at least one in "tokens" (herald token create makes entries)`, name)
	}
	seen := map[[sha256.Size]byte]int{} // token index by hash
	keys := make([]key, 0, len(f.Tokens))
	for i, t := range f.Tokens {
		p, h, err := t.check()
		if err == nil {
			if j, dup := seen[h]; dup {
				err = fmt.Errorf("the same sha256 as token %d (%q): a token has one entry; put all its grants there", j, f.Tokens[j].Name)
			}
		}
		if err != nil {
			return fmt.Errorf("auth file %s: token %d (%q): %w", name, i, t.Name, err)
		}
		seen[h] = i
		keys = append(keys, key{hash: h, p: p})
	}
	k.keys = append(k.keys, keys...)
	return nil
}

// Check checks an entry as LoadFile does, so that a tool that makes
// entries makes only those a server loads.
func (t FileToken) Check() error {
	_, _, err := t.check()
	return err
}

func (t FileToken) check() (*Principal, [sha256.Size]byte, error) {
	var h [sha256.Size]byte
	raw, err := hex.DecodeString(t.SHA256)
	if err != nil || len(raw) != sha256.Size {
		return nil, h, errors.New("sha256 must be 64 hex digits: the SHA-256 of the token (herald token create prints it)")
	}
	copy(h[:], raw)
	if h == sha256.Sum256(nil) {
		return nil, h, errors.New("sha256 is the SHA-256 of the empty string, not of a token (was the token variable empty when it was hashed?)")
	}
	if t.Name == "" {
		return nil, h, errors.New("name is required")
	}
	for _, g := range t.Grants {
		if err := g.check(); err != nil {
			return nil, h, err
		}
	}
	return &Principal{Name: t.Name, Grants: t.Grants}, h, nil
}

func (g Grant) check() error {
	if g.Topics == "" {
		return errors.New("a grant needs topics (a topic name or a pattern with *)")
	}
	if len(g.Actions) == 0 {
		return fmt.Errorf("grant topics %q needs actions: publish, consume or admin", g.Topics)
	}
	for _, r := range g.Topics {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-*", r)) {
			return fmt.Errorf("grant topics %q: %q is not in topic names: use a topic name (letters, digits, '.', '_', '-') in which * stands for any characters", g.Topics, r)
		}
	}
	for _, a := range g.Actions {
		if a != Publish && a != Consume && a != Admin {
			return fmt.Errorf("action %q: want publish, consume or admin", a)
		}
	}
	return nil
}

type principalKey struct{}

// WithPrincipal returns ctx carrying the authenticated principal.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// herald is the principal of the writes Herald makes itself (AsHerald).
var herald = &Principal{Name: "herald", Grants: []Grant{{Topics: "*", Actions: []Action{Admin}}}}

// AsHerald returns ctx for a write Herald makes itself, for what an admin
// set up, whatever the grants of the request that brought it about: a
// subscription's dead letter goes into (and makes again, if it was
// deleted) the dead-letter topic its admin chose, also when a consumer's
// nack brings the event to its last attempt.
func AsHerald(ctx context.Context) context.Context { return WithPrincipal(ctx, herald) }

// PrincipalOf returns the authenticated principal of ctx; ok is false on
// a server without authentication.
func PrincipalOf(ctx context.Context) (p *Principal, ok bool) {
	p, ok = ctx.Value(principalKey{}).(*Principal)
	return p, ok
}

// Check says whether the request of ctx may do a on topic. A context
// without a principal is a server without authentication: all is allowed.
func Check(ctx context.Context, a Action, topic string) error {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	if !ok || p.Allowed(a, topic) {
		return nil
	}
	return fmt.Errorf("%w: token %q may not %s on topic %q", ErrForbidden, p.Name, a, topic)
}

// CheckAny says whether the request of ctx may do anything on topic.
func CheckAny(ctx context.Context, topic string) error {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	if !ok || p.AllowedAny(topic) {
		return nil
	}
	return fmt.Errorf("%w: token %q has no grant on topic %q", ErrForbidden, p.Name, topic)
}

// Merge adds o's tokens to k.
func (k *Keyring) Merge(o *Keyring) {
	if o != nil {
		k.keys = append(k.keys, o.keys...)
	}
}
