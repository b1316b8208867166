package broker

import "testing"

// Vectors from Apache Kafka's own tests of Utils.murmur2, so keyed events
// land where Kafka clients put them.
func TestMurmur2_MatchesKafka(t *testing.T) {
	cases := map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
	}
	for in, want := range cases {
		if got := int32(murmur2([]byte(in))); got != want {
			t.Errorf("murmur2(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestKeyPartition_StableAndInRange(t *testing.T) {
	for _, n := range []int{1, 3, 7, 64} {
		for _, k := range []string{"", "a", "order-1", "order-2", "κλειδί"} {
			p := KeyPartition(k, n)
			if p < 0 || p >= n || p != KeyPartition(k, n) {
				t.Fatalf("KeyPartition(%q, %d) = %d", k, n, p)
			}
		}
	}
}
