// Package push delivers a subscription's events to consumers that do not
// pull: webhooks (Pusher, one per subscription, POSTing each event to a
// URL) and Server-Sent Events streams (StreamHandler, for browsers and
// curl). Both sit on subscription.Manager's public API: they pull like any
// consumer, so the subscription's leases, ordering, backoff and dead
// letters apply unchanged.
//
// Files: config.go (Config, Check), pusher.go (the pull loop, Start, Stop),
// deliver.go (one POST and its ack or nack), signature.go (Sign, Verify),
// sse.go (StreamHandler).
//
// # Webhook requests
//
// Each delivery is one POST in the CloudEvents HTTP binding's binary mode:
// the attributes in ce-* headers, datacontenttype in Content-Type, the data
// as the body. An event whose datacontenttype is itself a CloudEvents
// format (application/cloudevents+json, an event wrapped in an event) goes
// in structured mode instead, since with that Content-Type receivers read
// the body as the event. Herald adds:
//
//	Herald-Delivery-Attempt: 3                  1 for the first delivery
//	Herald-Subscription:     orders/billing     topic/subscription
//	Herald-Signature:        t=1718000000,v1=5f2b…  (only when Config.Secret is set)
//
// A 2xx reply acknowledges the event. Anything else (another status, a
// redirect, no reply within Config.Timeout, a connection error) is a nack
// whose reason names what happened ("push: 503 Service Unavailable",
// "push: timeout after 10s"), so the subscription redelivers after its
// backoff and, out of attempts, dead-letters the event with that reason. A
// 429 or 503 reply with Retry-After sets the delay before the redelivery
// (at most an hour). The pusher itself never retries. Delivery is at least
// once: receivers deduplicate by ce-source and ce-id.
//
// # Signature
//
// Herald-Signature is "t=<unix seconds>,v1=<hex HMAC-SHA256>", where the
// HMAC is keyed with the secret and computed over the timestamp, a dot and
// the raw body: HMAC-SHA256(secret, "<t>.<body>"). The timestamp lets a
// receiver refuse replays of old requests; more than one v1 may appear (a
// receiver accepts any that matches), so secrets can be rotated. Only the
// timestamp and the body are signed, not the ce-* headers (as in Stripe's
// scheme this one follows): a receiver should not trust an attribute for
// authorization just because the body verified.
// Receivers in Go call Verify; in any language the check is:
//
//	header := r.Header.Get("Herald-Signature")   // t=1718000000,v1=5f2b…
//	t, v1 := fields of header
//	want := hex(HMAC-SHA256(secret, t + "." + rawBody))
//	ok := constantTimeEqual(want, v1) && abs(now - t) <= 5 minutes
//
// in Go:
//
//	body, _ := io.ReadAll(r.Body)
//	err := push.Verify(secret, r.Header.Get(push.SignatureHeader), body, 5*time.Minute, time.Now())
//	if err != nil {
//		http.Error(w, "bad signature", http.StatusUnauthorized) // Herald nacks and retries
//		return
//	}
//
// # Ordering
//
// The subscription never hands out the next event of a key while one is
// leased, so under key or partition ordering a receiver never sees two
// events of one key at once, and sees them in order. The pusher acks or
// nacks each delivery exactly once, after its POST ended, and holds each
// lease for Config.Timeout plus a margin whatever the subscription's ack
// timeout, so a slow receiver is never sent the next event of a key while
// the POST of the one before is still running.
package push
