package herald

import (
	"fmt"
	"reflect"
	"sort"
)

// Upcast registers a typed upcaster with a Router: fn turns the data of
// version from of event type typ into version from+1. Handlers (Handle,
// HandleBatch) then receive every event of that type at the newest
// version its chain of upcasters reaches: an event whose dataschema
// names version from is decoded as From (as Handle decodes a handler's
// data, by its content type) and run through fn and every upcaster after
// it. So a handler written for version 3 handles events of versions 1, 2
// and 3:
//
//	herald.Upcast(r, "UserRegistered", 1, func(v UserV1) (UserV2, error) { … })
//	herald.Upcast(r, "UserRegistered", 2, func(v UserV2) (UserV3, error) { … })
//	herald.Handle(r, "users", "welcome", func(ctx context.Context, e herald.Event[UserV3]) error { … })
//
// An event whose dataschema names no version (or one past the chain) is
// decoded as the handler's type directly; one that names a version older
// than the chain's first is dead-lettered, since nothing brings it to the
// handler's. A handler that takes []byte gets the data as it is, of any
// version, unless the chain ends at []byte. An upcaster's error, like
// data that does not decode, dead-letters the event at once: no retry
// changes it. Register upcasters before Run; Run refuses two upcasters
// of one type from one version, and a chain whose types do not follow on
// (version n's To is not version n+1's From, or there is no upcaster of
// version n+1 before a later one).
func Upcast[From, To any](r *Router, typ string, from int, fn func(From) (To, error)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notRunning("Upcast")
	if fn == nil {
		r.refused = append(r.refused, fmt.Errorf("herald: router: a nil upcaster of %q from version %d", typ, from))
	}
	if r.upcasters == nil {
		r.upcasters = map[string]map[int]*upcaster{}
	}
	if r.upcasters[typ] == nil {
		r.upcasters[typ] = map[int]*upcaster{}
	}
	if r.upcasters[typ][from] != nil {
		r.refused = append(r.refused, fmt.Errorf("herald: router: two upcasters of %q from version %d: one version has one upcaster", typ, from))
	}
	r.upcasters[typ][from] = &upcaster{
		from: reflect.TypeFor[From](),
		to:   reflect.TypeFor[To](),
		decode: func(e *CloudEvent) (any, error) {
			var v From
			err := decodeData(e, &v)
			return v, err
		},
		apply: func(v any) (any, error) { return fn(v.(From)) },
	}
}

// upcaster is one step of a chain, with its types erased.
type upcaster struct {
	from, to reflect.Type
	decode   func(*CloudEvent) (any, error) // data to From, as a handler's (decodeData)
	apply    func(any) (any, error)         // From to To
}

// checkUpcasters returns an error for a chain whose types do not follow
// on.
func (r *Router) checkUpcasters() error {
	for typ, chain := range r.upcasters {
		versions := make([]int, 0, len(chain))
		for v := range chain {
			versions = append(versions, v)
		}
		sort.Ints(versions)
		for i, v := range versions {
			if v < 1 {
				return fmt.Errorf("herald: router: upcaster of %q from version %d: versions start at 1", typ, v)
			}
			if i+1 < len(versions) && versions[i+1] != v+1 {
				return fmt.Errorf("herald: router: upcasters of %q: none from version %d, so version %d cannot reach version %d",
					typ, v+1, v, versions[i+1])
			}
			next, ok := chain[v+1]
			if ok && chain[v].to != next.from {
				return fmt.Errorf("herald: router: upcasters of %q: version %d becomes %v, but the upcaster of version %d takes %v",
					typ, v, chain[v].to, v+1, next.from)
			}
		}
	}
	return nil
}

// upcast decodes a delivery's data at the version its dataschema names
// and runs it through the chain of its type, for a handler that takes a
// want; ok is false when there is nothing to upcast (no chain, or no
// version to start from) or the handler takes the data as it is.
func (r *Router) upcast(d *Delivery, want reflect.Type) (v any, ok bool, err error) {
	chain := r.upcasters[d.Event.Type]
	if asItIs(chain, want) {
		return nil, false, nil
	}
	version := schemaVersion(d.Event)
	step := chain[version]
	if step == nil {
		if first := firstVersion(chain); version > 0 && version < first {
			return nil, true, fmt.Errorf("event %s: version %d of %s has no upcaster: they start at version %d (register one from version %d)",
				d.Event.ID, version, d.Event.Type, first, version)
		}
		return nil, false, nil
	}
	if v, err = step.decode(d.Event); err != nil {
		return nil, true, fmt.Errorf("%w (version %d of %s)", err, version, d.Event.Type)
	}
	for ; step != nil; step = chain[version] {
		if v, err = step.apply(v); err != nil {
			return nil, true, fmt.Errorf("event %s: upcasting %s from version %d: %w", d.Event.ID, d.Event.Type, version, err)
		}
		version++
	}
	return v, true, nil
}

var bytesType = reflect.TypeFor[[]byte]()

// asItIs reports whether a handler that takes a want gets the data as it
// is, past a chain: want is []byte (Handle's data as it is), and the chain
// does not end at []byte.
func asItIs(chain map[int]*upcaster, want reflect.Type) bool {
	if want != bytesType || len(chain) == 0 {
		return false
	}
	last := firstVersion(chain)
	for v := range chain {
		last = max(last, v)
	}
	return chain[last].to != bytesType
}

// firstVersion returns the version a chain starts from; 0 for no chain.
func firstVersion(chain map[int]*upcaster) int {
	first := 0
	for v := range chain {
		if first == 0 || v < first {
			first = v
		}
	}
	return first
}
