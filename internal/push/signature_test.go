package push

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestSign_IsHMACOfTimestampDotBody(t *testing.T) {
	at := time.Unix(1718000000, 0)
	body := []byte(`{"orderId":42}`)
	h := hmac.New(sha256.New, []byte("s3cret"))
	h.Write([]byte(`1718000000.{"orderId":42}`))
	want := "t=1718000000,v1=" + hex.EncodeToString(h.Sum(nil))
	if got := Sign("s3cret", at, body); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	at := time.Unix(1718000000, 0)
	body := []byte(`{"orderId":42}`)
	good := Sign("s3cret", at, body)
	other := Sign("old", at, body)
	v1 := strings.TrimPrefix(good, "t=1718000000,")
	cases := []struct {
		name, secret, header string
		body                 []byte
		now                  time.Time
		want                 error
	}{
		{"valid", "s3cret", good, body, at, nil},
		{"valid within tolerance", "s3cret", good, body, at.Add(-4 * time.Minute), nil},
		{"rotated: any v1 matches", "s3cret", other + "," + v1, body, at, nil},
		{"spaces and unknown schemes", "s3cret", "t=1718000000, v0=abc, " + v1, body, at, nil},
		{"tampered body", "s3cret", good, []byte(`{"orderId":43}`), at, ErrSignatureMismatch},
		{"wrong secret", "other", good, body, at, ErrSignatureMismatch},
		{"old", "s3cret", good, body, at.Add(6 * time.Minute), ErrSignatureExpired},
		{"from the future", "s3cret", good, body, at.Add(-6 * time.Minute), ErrSignatureExpired},
		{"timestamp changed", "s3cret", strings.Replace(good, "t=1718000000", "t=1718000001", 1), body, at, ErrSignatureMismatch},
		{"missing", "s3cret", "", body, at, ErrSignatureMissing},
		{"no timestamp", "s3cret", v1, body, at, ErrSignatureMalformed},
		{"no v1", "s3cret", "t=1718000000", body, at, ErrSignatureMalformed},
		{"two timestamps", "s3cret", "t=1,t=2," + v1, body, at, ErrSignatureMalformed},
		{"bad timestamp", "s3cret", "t=x," + v1, body, at, ErrSignatureMalformed},
		{"short v1", "s3cret", "t=1718000000,v1=abcd", body, at, ErrSignatureMalformed},
		{"garbage", "s3cret", "hello", body, at, ErrSignatureMalformed},
		{"no secret", "", good, body, at, ErrNoSecret},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.secret, tc.header, tc.body, 5*time.Minute, tc.now)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestVerify_ZeroToleranceMeansTheDefault(t *testing.T) {
	at := time.Unix(1718000000, 0)
	sig := Sign("k", at, nil)
	if err := Verify("k", sig, nil, 0, at.Add(DefaultTolerance-time.Second)); err != nil {
		t.Error(err)
	}
	if err := Verify("k", sig, nil, 0, at.Add(DefaultTolerance+time.Second)); !errors.Is(err, ErrSignatureExpired) {
		t.Errorf("Verify = %v, want %v", err, ErrSignatureExpired)
	}
}

func ExampleVerify() {
	secret := "whsec_example"
	body := []byte(`{"orderId":42}`)
	sent := time.Unix(1718000000, 0)
	header := Sign(secret, sent, body) // what Herald puts in Herald-Signature

	fmt.Println(Verify(secret, header, body, 5*time.Minute, sent.Add(time.Second)))
	fmt.Println(Verify(secret, header, []byte(`{"orderId":43}`), 5*time.Minute, sent.Add(time.Second)))
	// Output:
	// <nil>
	// push: signature does not match the body (wrong secret, or the body was changed)
}

// Verify reads a header a receiver got from anyone: it never panics, and
// it accepts a header only when the header carries, as a v1, the HMAC of
// its own timestamp and the body, with that timestamp within tolerance.
func FuzzVerify(f *testing.F) {
	now := time.Unix(1718000000, 0)
	f.Add(Sign("s3cret", now, []byte("{}")), []byte("{}"), int64(0))
	f.Add("t=1718000000,v1="+strings.Repeat("0", 64)+",v1=zz", []byte("x"), int64(-300))
	f.Add("t=9223372036854775807,v1=", []byte{}, int64(1<<40))
	f.Add(" t = 1 , v0=1,v1="+strings.Repeat("ab", 32), []byte("body"), int64(1))
	f.Fuzz(func(t *testing.T, header string, body []byte, skew int64) {
		at := now.Add(time.Duration(skew) * time.Second)
		err := Verify("s3cret", header, body, 0, at)
		if err == nil {
			ts, _, perr := parseSignature(header)
			if perr != nil {
				t.Fatalf("accepted %q, which does not parse: %v", header, perr)
			}
			if !strings.Contains(strings.ToLower(header), hex.EncodeToString(mac("s3cret", ts, body))) { // hex of either case
				t.Fatalf("accepted %q without the HMAC of its timestamp and the body", header)
			}
		}
		if header == Sign("s3cret", at, body) && err != nil {
			t.Fatalf("refused its own signature: %v", err)
		}
	})
}
