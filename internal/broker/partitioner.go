package broker

// Partitioning. An event with a partition key goes to partition
//
//	(murmur2(key) & 0x7fffffff) % partitions
//
// which is the hash of Apache Kafka's default partitioner, so an event keyed
// "order-7" lands in the same partition whether a Kafka client or Herald
// placed it. Events without a key are spread round-robin.

// murmur2 is the 32-bit MurmurHash2 variant Kafka uses (seed 0x9747b28c).
func murmur2(data []byte) uint32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	h := uint32(seed) ^ uint32(len(data))
	for len(data) >= 4 {
		k := uint32(data[0]) | uint32(data[1])<<8 | uint32(data[2])<<16 | uint32(data[3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
		data = data[4:]
	}
	switch len(data) {
	case 3:
		h ^= uint32(data[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

// KeyPartition returns the partition of a keyed event (Kafka's default
// partitioner: murmur2 of the key).
func KeyPartition(key string, partitions int) int {
	return int((murmur2([]byte(key)) & 0x7fffffff) % uint32(partitions))
}
