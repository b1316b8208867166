package faultfs

import "sync/atomic"

// FailAfter returns an Injector that lets the first n-1 ops of kind op
// through and fails the n-th and every later one with err (ErrInjected when
// err is nil): a sticky fault. n counts from 1; n < 1 fails every op of the
// kind. Other ops pass.
func FailAfter(n int, op Op, err error) Injector {
	err = orInjected(err)
	var seen atomic.Int64
	return func(o Op, _ string) error {
		if o == op && seen.Add(1) >= int64(n) {
			return err
		}
		return nil
	}
}

// FailOnce returns an Injector that fails only the n-th op of kind op (n
// counts from 1) with err, or ErrInjected when err is nil: a transient fault.
func FailOnce(n int, op Op, err error) Injector {
	err = orInjected(err)
	var seen atomic.Int64
	return func(o Op, _ string) error {
		if o == op && seen.Add(1) == int64(n) {
			return err
		}
		return nil
	}
}

// CutAfter returns an Injector that lets the first k mutating ops (see
// Op.Mutating) through and fails every later mutating op with ErrPowerCut,
// so the workload stops changing the disk right after its k-th change.
// Reads still work. Follow it with MemFS.Crash to see what survives.
func CutAfter(k int) Injector {
	var seen atomic.Int64
	return func(op Op, _ string) error {
		if op.Mutating() && seen.Add(1) > int64(k) {
			return ErrPowerCut
		}
		return nil
	}
}

// Chain returns an Injector that asks each injector in turn and returns the
// first error; injectors after it are not asked.
func Chain(injs ...Injector) Injector {
	return func(op Op, path string) error {
		for _, inj := range injs {
			if err := inj(op, path); err != nil {
				return err
			}
		}
		return nil
	}
}

// OnPath returns an Injector that asks inj only about paths for which match
// returns true; inj does not see, and so does not count, the others.
func OnPath(match func(path string) bool, inj Injector) Injector {
	return func(op Op, path string) error {
		if !match(path) {
			return nil
		}
		return inj(op, path)
	}
}

// Counter counts the ops it sees, by kind. Use Counter.Inject as the
// Injector of a first run of a workload, then Mutating to learn how many
// crash points a CutAfter loop must cover. The zero value is ready to use
// and it is safe for concurrent use.
type Counter struct {
	counts [numOps]atomic.Int64 // Ops seen, indexed by Op.
}

// Inject counts op and never fails it.
func (c *Counter) Inject(op Op, _ string) error {
	if op > 0 && op < numOps {
		c.counts[op].Add(1)
	}
	return nil
}

// Count returns how many ops of kind op were seen.
func (c *Counter) Count(op Op) int {
	if op <= 0 || op >= numOps {
		return 0
	}
	return int(c.counts[op].Load())
}

// Mutating returns how many mutating ops were seen, the k range of CutAfter.
func (c *Counter) Mutating() int {
	total := 0
	for op := OpOpen; op < numOps; op++ {
		if op.Mutating() {
			total += c.Count(op)
		}
	}
	return total
}

// orInjected returns err, or ErrInjected when err is nil.
func orInjected(err error) error {
	if err == nil {
		return ErrInjected
	}
	return err
}
