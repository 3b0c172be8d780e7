// Package hist is a log-linear latency histogram in the manner of
// HdrHistogram: values below 2·S are counted exactly, and every larger
// power-of-two range is split into S equal buckets, so that any recorded
// value is known to within a relative error of 1/S whatever its magnitude.
// Recording is a few arithmetic operations and one increment; a Histogram is
// not safe for concurrent use, so each recording goroutine keeps its own and
// the results are merged.
package hist

import (
	"math"
	"math/bits"
)

// DefaultPrecisionBits gives S = 512 sub-buckets per power of two: any
// value is reported within 0.2% of what was recorded.
const DefaultPrecisionBits = 9

// Histogram counts non-negative int64 values (nanoseconds, for latencies).
// The zero value is not usable; call New.
type Histogram struct {
	p      uint // precision bits: S = 1 << p
	counts []uint64
	total  uint64
	min    int64
	max    int64
	sum    float64
}

// New returns an empty histogram with DefaultPrecisionBits.
func New() *Histogram { return NewPrecision(DefaultPrecisionBits) }

// NewPrecision returns an empty histogram with 1<<p sub-buckets per power of
// two (relative error at most 2^-p). p must be within 1..20.
func NewPrecision(p uint) *Histogram {
	if p < 1 || p > 20 {
		panic("hist: precision bits must be within 1..20")
	}
	return &Histogram{p: p, min: math.MaxInt64, counts: make([]uint64, 4<<p)}
}

// index returns the bucket of v (v >= 0).
func (h *Histogram) index(v int64) int {
	s := int64(1) << h.p
	if v < 2*s {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - int(h.p) - 1
	return shift<<h.p + int(v>>uint(shift))
}

// bounds returns the lowest value of bucket i and its width.
func (h *Histogram) bounds(i int) (lo, width int64) {
	s := 1 << h.p
	if i < 2*s {
		return int64(i), 1
	}
	shift := i>>h.p - 1
	mant := i - shift<<h.p
	return int64(mant) << uint(shift), int64(1) << uint(shift)
}

// Record counts one value; negative values count as 0.
func (h *Histogram) Record(v int64) { h.RecordN(v, 1) }

// RecordN counts n occurrences of v.
func (h *Histogram) RecordN(v int64, n uint64) {
	if n == 0 {
		return
	}
	if v < 0 {
		v = 0
	}
	i := h.index(v)
	if i >= len(h.counts) {
		h.grow(i)
	}
	h.counts[i] += n
	h.total += n
	h.sum += float64(v) * float64(n)
	if v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
}

func (h *Histogram) grow(i int) {
	n := len(h.counts)
	for n <= i {
		n *= 2
	}
	c := make([]uint64, n)
	copy(c, h.counts)
	h.counts = c
}

// Merge adds every count of o to h. Both must have the same precision.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.total == 0 {
		return
	}
	if o.p != h.p {
		panic("hist: merging histograms of different precision")
	}
	if len(o.counts) > len(h.counts) {
		h.grow(len(o.counts) - 1)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// Reset empties h, keeping its buckets allocated.
func (h *Histogram) Reset() {
	clear(h.counts)
	h.total, h.sum, h.max, h.min = 0, 0, 0, math.MaxInt64
}

// Count returns the number of values recorded.
func (h *Histogram) Count() uint64 { return h.total }

// Min returns the smallest value recorded (exact), or 0 when empty.
func (h *Histogram) Min() int64 {
	if h.total == 0 {
		return 0
	}
	return h.min
}

// Max returns the largest value recorded (exact), or 0 when empty.
func (h *Histogram) Max() int64 { return h.max }

// Mean returns the mean of the values recorded (exact), or 0 when empty.
func (h *Histogram) Mean() float64 {
	if h.total == 0 {
		return 0
	}
	return h.sum / float64(h.total)
}

// Quantile returns the value at quantile q in [0, 1]: the smallest recorded
// value v such that at least ceil(q·Count) values are <= v, reported as the
// middle of its bucket (so within half a bucket, a relative 2^-(p+1), of the
// exact answer) and clamped to the exact Min and Max. Quantile(1) is Max.
func (h *Histogram) Quantile(q float64) int64 {
	if h.total == 0 {
		return 0
	}
	if q <= 0 {
		return h.min
	}
	if q >= 1 {
		return h.max
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		if c == 0 {
			continue
		}
		seen += c
		if seen >= rank {
			lo, w := h.bounds(i)
			v := lo + (w-1)/2
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}

// Percentile is Quantile(p/100).
func (h *Histogram) Percentile(p float64) int64 { return h.Quantile(p / 100) }
