package event

import (
	"encoding/json"
	"strings"
	"testing"
)

var validJSONSeeds = []string{
	`{}`, `[]`, `""`, `0`, `-0`, `1.5e+10`, `-12.0E-3`, `true`, `false`, `null`,
	` {"a" : [1, 2, {"b": null}], "c": "\u00e9\n\"x\""} `,
	`{"a":1,}`, `[1,]`, `[1 2]`, `{"a" 1}`, `{a:1}`, `01`, `1.`, `.5`, `1e`, `-`, `+1`,
	`"\x"`, `"\u12"`, "\"\x01\"", `"unterminated`, `tru`, `nul`, `[`, `{`, ``, ` `,
	`{"a":1}{}`, `[[[[]]]]`, "\"\xff\xfe\"", `"\/"`, `{"":""}`, `[-1e-0]`,
}

func TestValidJSON_AgreesWithEncodingJSON(t *testing.T) {
	cases := append([]string{}, validJSONSeeds...)
	cases = append(cases, strings.Repeat("[", maxJSONDepth)+strings.Repeat("]", maxJSONDepth))
	cases = append(cases, strings.Repeat("[", maxJSONDepth+1)+strings.Repeat("]", maxJSONDepth+1))
	for _, c := range cases {
		if got, want := validJSON([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("validJSON(%.40q) = %v, json.Valid says %v", c, got, want)
		}
	}
}

// FuzzValidJSON checks the hand-written validator against encoding/json on
// any input.
func FuzzValidJSON(f *testing.F) {
	for _, s := range validJSONSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid says %v", b, got, want)
		}
	})
}

func BenchmarkValidJSON1KiB(b *testing.B) {
	doc := []byte(`{"specversion":"1.0","id":"e-1","source":"/bench","type":"bench.event","data":"` + strings.Repeat("x", 1000) + `"}`)
	b.Run("herald", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			validJSON(doc)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			json.Valid(doc)
		}
	})
}
