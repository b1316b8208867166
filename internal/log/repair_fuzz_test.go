package log

import (
	"context"
	"testing"
	"time"

	"github.com/heraldevents/herald/internal/storage"
)

// FuzzCheckAndRepair runs the offline tools over the fixture segment of
// FuzzSegmentRecovery damaged the same ways (arbitrary bytes, the segment
// cut and followed by arbitrary bytes, bytes flipped). Check must not
// fail or panic; after Repair, Check must pass, the engine must open and
// take an append, and every record whose batch is still byte for byte in
// place must read back as appended, at its offset.
func FuzzCheckAndRepair(f *testing.F) {
	fx := newRecoveryFixture(f)
	last := fx.batches[len(fx.batches)-1]
	first := fx.seg[:fx.batches[1].pos]
	f.Add(uint8(segReplace), uint32(0), []byte{})
	f.Add(uint8(segReplace), uint32(0), []byte("not a batch, not zeros"))
	f.Add(uint8(segReplace), uint32(0), first)
	f.Add(uint8(segTail), uint32(last.pos+7), []byte{})
	f.Add(uint8(segTail), uint32(len(fx.seg)), make([]byte, 300))
	f.Add(uint8(segTail), uint32(fx.batches[2].pos), fx.seg[fx.batches[3].pos:fx.batches[4].pos])
	for _, field := range []int64{0, 7, 9, 11, 16, 17, 26, 57, 61, 70} {
		for _, b := range []batchAt{fx.batches[0], fx.batches[2], last} {
			f.Add(uint8(segXor), uint32(b.pos+field), []byte{0x01})
			f.Add(uint8(segXor), uint32(b.pos+field), []byte{0x80, 0x80})
		}
	}
	f.Fuzz(func(t *testing.T, mode uint8, at uint32, data []byte) {
		if len(data) > maxFuzzInput {
			t.Skip("input over 1 MiB")
		}
		seg, intact := fx.mutate(mode, at, data)
		disk := fx.disk.Clone()
		writeWhole(t, disk, fuzzSegPath, seg)
		if _, err := Check("/data", CheckOptions{FS: disk}); err != nil {
			t.Fatalf("check: %v", err)
		}
		rep, err := Repair("/data", RepairOptions{FS: disk, Now: func() time.Time { return fuzzNow }})
		if err != nil {
			t.Fatalf("repair: %v", err)
		}
		if after, err := Check("/data", CheckOptions{FS: disk}); err != nil || !after.OK() {
			t.Fatalf("check after repair: %v %v (repair did %+v)", err, after.Findings, rep.Actions)
		}
		e, err := Open("/data", fuzzOptions(disk))
		if err != nil {
			t.Fatalf("open after repair: %v", err)
		}
		defer e.Close()
		ctx := context.Background()
		for o := int64(0); o < intact; o++ {
			recs, err := e.Read(ctx, "t", 0, o, 1, 1<<20)
			if err != nil || len(recs) != 1 || recs[0].Offset != o {
				t.Fatalf("read at %d of %d intact: %v %v (repair did %+v)", o, intact, recs, err, rep.Actions)
			}
			if err := sameRecord(recs[0], fx.recs[o]); err != nil {
				t.Fatalf("read at %d: %v", o, err)
			}
		}
		if _, err := e.Append(ctx, "t", []storage.PartitionRecords{{Partition: 0, Records: []storage.Record{{Value: []byte("after")}}}}); err != nil {
			t.Fatalf("append after repair: %v", err)
		}
	})
}
