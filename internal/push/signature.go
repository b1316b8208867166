package push

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Headers Herald adds to a pushed request.
const (
	SignatureHeader    = "Herald-Signature"
	AttemptHeader      = "Herald-Delivery-Attempt"
	SubscriptionHeader = "Herald-Subscription"
)

// DefaultTolerance is how far a signature's timestamp may be from the
// receiver's clock when Verify is given no tolerance.
const DefaultTolerance = 5 * time.Minute

// Errors of Verify, by what is wrong with the request.
var (
	ErrNoSecret           = errors.New("push: Verify needs the subscription's secret")
	ErrSignatureMissing   = errors.New("push: no Herald-Signature header")
	ErrSignatureMalformed = errors.New("push: malformed Herald-Signature header (want t=<unix seconds>,v1=<hex>)")
	ErrSignatureMismatch  = errors.New("push: signature does not match the body (wrong secret, or the body was changed)")
	ErrSignatureExpired   = errors.New("push: signature timestamp outside the tolerance (a replay, or clocks apart)")
)

// Sign returns the Herald-Signature value for body sent at t:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>".
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a Herald-Signature header against the raw request body: one
// of its v1 signatures must be the HMAC of the body under secret, and its
// timestamp within tolerance of now (DefaultTolerance when tolerance <= 0).
// Its errors are the Err* values of this file.
func Verify(secret string, header string, body []byte, tolerance time.Duration, now time.Time) error {
	if secret == "" {
		return ErrNoSecret
	}
	if strings.TrimSpace(header) == "" {
		return ErrSignatureMissing
	}
	ts, sigs, err := parseSignature(header)
	if err != nil {
		return err
	}
	want := mac(secret, ts, body)
	if !anyEqual(sigs, want) {
		return ErrSignatureMismatch
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	sec, _ := strconv.ParseInt(ts, 10, 64) // parseSignature checked it
	if d := now.Sub(time.Unix(sec, 0)).Abs(); d > tolerance {
		return fmt.Errorf("%w: signed %s from now, tolerance %s", ErrSignatureExpired, d.Truncate(time.Second), tolerance)
	}
	return nil
}

// parseSignature returns the timestamp (as sent) and every v1 signature;
// other schemes are skipped.
func parseSignature(header string) (ts string, sigs [][]byte, err error) {
	for _, field := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok {
			return "", nil, ErrSignatureMalformed
		}
		switch k {
		case "t":
			if ts != "" {
				return "", nil, fmt.Errorf("%w: two timestamps", ErrSignatureMalformed)
			}
			if _, err := strconv.ParseInt(v, 10, 64); err != nil || v == "" || v[0] == '+' {
				return "", nil, fmt.Errorf("%w: timestamp %q", ErrSignatureMalformed, v)
			}
			ts = v
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size {
				return "", nil, fmt.Errorf("%w: v1 is not a hex SHA-256 HMAC", ErrSignatureMalformed)
			}
			sigs = append(sigs, sig)
		}
	}
	if ts == "" || len(sigs) == 0 {
		return "", nil, ErrSignatureMalformed
	}
	return ts, sigs, nil
}

func anyEqual(sigs [][]byte, want []byte) bool {
	ok := false
	for _, s := range sigs {
		ok = hmac.Equal(s, want) || ok // compare all: no early exit
	}
	return ok
}
