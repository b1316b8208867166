// Package log is Herald's embedded storage engine: a durable, partitioned,
// replayable log on local files. It implements storage.Engine.
//
// # On-disk layout
//
//	<data>/topics/<topic>/topic.json            topic name, config, creation time
//	<data>/topics/<topic>/<p>/<base>.log        segment: Kafka v2 record batches, back to back
//	<data>/topics/<topic>/<p>/<base>.index      offset index of a sealed segment
//	<data>/topics/<topic>/<p>/<base>.timeindex  time index of a sealed segment
//	<data>/topics/<topic>/<p>/<name>.compacting a compacted file not yet renamed over <name> (removed on open)
//	<data>/topics/.deleted-<nanos>-<topic>/     a topic being deleted (removed on open)
//	<data>/quarantine/<time>/                   what herald repair set aside, and its report.json
//
// <p> is the partition number, <base> the segment's first offset as 20
// decimal digits. The last segment of a partition is the active one; only
// it is written to, and its index lives in memory (rebuilt by scanning on
// open). A segment is sealed when it reaches SegmentBytes or SegmentAge:
// its log is fsynced and its index files written and fsynced.
//
// # Segment file (.log)
//
// A segment holds Kafka record batches (message format v2, as produced by
// franz-go's kmsg and read by any Kafka client), uncompressed:
//
//	offset  size  field
//	0       8     FirstOffset       absolute offset of the first record
//	8       4     Length            bytes after this field
//	12      4     PartitionLeaderEpoch (0)
//	16      1     Magic (2)
//	17      4     CRC               CRC-32C of bytes 21..end
//	21      2     Attributes        (0: no compression, create time)
//	23      4     LastOffsetDelta
//	27      8     FirstTimestamp    ms
//	35      8     MaxTimestamp      ms
//	43      8     ProducerID (-1)
//	51      2     ProducerEpoch (-1)
//	53      4     FirstSequence (-1)
//	57      4     NumRecords
//	61      ...   records: varint length, attributes, varlong timestamp
//	              delta, varint offset delta, varint key, varint value,
//	              varint header count, headers (varint key, varint value)
//
// Batches are contiguous: the first batch of a segment starts at its base,
// and each FirstOffset is the previous batch's last offset
// (FirstOffset+LastOffsetDelta) plus one. FirstOffset is not covered by
// the CRC, which is what lets a publisher's goroutine encode and checksum
// its batch before the committer assigns its offset; continuity is what
// catches a damaged one. A segment's offsets end where the next segment's
// begin.
//
// # Compacted segments
//
// Compaction (TopicConfig.Compact) rewrites sealed segments without the
// records that a newer record with the same key supersedes. Records keep
// their offsets and timestamps, so offsets have gaps, but batches still
// cover every offset and stay contiguous, the way Kafka's cleaner keeps a
// batch's last offset:
//
//	FirstOffset       the batch's first record's offset (or, in an empty
//	                  batch, the first offset it covers)
//	OffsetDelta       each record's offset minus FirstOffset; may skip
//	LastOffsetDelta   reaches to the offset before the next batch (or the
//	                  segment's end), even past the last record
//	NumRecords 0      an empty batch, FirstTimestamp and MaxTimestamp -1:
//	                  covers removed records that no batch around them can
//	                  reach (before the segment's first record kept, or
//	                  beyond the 2^31 offsets one LastOffsetDelta spans)
//
// A segment that loses every record is deleted, except the first of its
// partition (it stays as one empty batch, so the start offset never moves
// by compaction). The segment before a deleted one then spans the deleted
// offsets too: its trailer says so, and its batches stop short of its end.
// A segment never compacted is byte for byte what the engine appended.
//
// A compaction writes <base>.log.compacting with its index files
// <base>.index.compacting and <base>.timeindex.compacting, fsyncs them,
// and swaps them in by three steps, each made durable by an fsync of the
// directory: remove the old index files; rename the new log over the old;
// rename the new index files in. A crash at any point leaves the old or
// the new log, with its own index or none (rebuilt by scanning); leftover
// .compacting files are deleted on open.
//
// # Index files
//
// Every IndexInterval bytes of log (default 4 KiB) the index gets an entry
// for the batch starting there. Both files are big-endian:
//
//	.index      [rel uint32][pos uint32] ...                    8 bytes an entry
//	.timeindex  [maxBefore int64][rel uint32] ... trailer seal  12 bytes an entry
//
// rel is the batch's first offset minus the segment base, pos its byte
// position. maxBefore is the largest timestamp of any record before the
// batch, so a time lookup may start at the last entry with maxBefore < t.
// The time index ends with a trailer and a seal of the same size:
//
//	.timeindex trailer  [maxTime int64][span uint32]
//	.timeindex seal     [logSize uint32][indexCRC uint32][timeCRC uint32]
//
// maxTime is the segment's max record timestamp (-1 if it holds none);
// span is its end offset minus its base: the next segment's base minus
// this one's. For a segment never compacted that is its record count.
// logSize is the .log file's size when the index was written; indexCRC is
// the CRC-32C of the whole .index, timeCRC that of the .timeindex up to
// it. Open reads both files whole and checks the seal, so a flipped bit
// or a cut anywhere in an index is caught before the index is used, and
// a sealed log that is not the size its sound index says is damage to the
// log. (Index files without a seal, from before it existed, fail the
// check and are rebuilt once.) Indexes are derived data: one that
// disagrees with its segment (or whose span does not reach the next
// segment's base) is rebuilt by scanning the segment.
//
// # Durability and recovery
//
// Appends to one topic go through its committer goroutine, which takes all
// waiting appends as one group, writes each partition's share with one
// write, fsyncs (mode always) and only then makes the group readable and
// returns. A failed write is cut back and the partition goes on: a full
// disk (ENOSPC, EDQUOT) is storage.ErrNoSpace, and appends succeed again
// once space is freed, as does a roll that failed for want of space. A
// failed fsync, whatever its errno, fails the partition closed until a
// restart. On open, the active segment of every partition is scanned: each
// batch's framing, offset continuity and CRC are checked; an unfinished
// last write (a torn tail) is cut, and so, in every mode, is what is bad
// past the length the partition's sync mark says was fsynced
// (syncmark.go); damage anywhere else is reported with file and
// byte position and leaves the partition read-only, never truncated. A sealed segment is scanned the same way when its index is
// rebuilt; if its batches end cleanly before the next segment's base
// (compaction deleted the segments between and crashed before recording
// the longer span), the offsets up to that base are a gap. Every batch is
// checked again when it is read: its CRC, and that its FirstOffset (which
// the CRC does not cover) continues the batch before it or the index
// entry the read started from. A read error is storage.ErrUnavailable and
// is not remembered; bytes that fail their checks are storage.ErrCorrupt.
//
// # Offline check and repair
//
// Check (check.go) walks a stopped server's data directory: every batch,
// index and topic.json, going on past damage to find all of it. Repair
// (repair.go) sets damaged byte ranges and replaced files aside under
// <data>/quarantine/<time>/ with a report.json, keeps the good batches
// after damage at their offsets by covering the lost offsets with empty
// batches (as compaction does), restores a FirstOffset that the batches
// around it prove wrong, and writes indexes and metadata anew. Both take
// the directory's lock.
package log
