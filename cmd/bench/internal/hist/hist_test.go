package hist

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// exactQuantile is the definition Quantile approximates: the smallest value
// with at least ceil(q·n) values at or below it.
func exactQuantile(sorted []int64, q float64) int64 {
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = max(rank, 1)
	return sorted[rank-1]
}

func TestQuantileAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name string
		gen  func() int64
		p    uint
	}{
		{"uniform-small", func() int64 { return rng.Int64N(1000) }, DefaultPrecisionBits},
		{"uniform-ms", func() int64 { return 1e6 + rng.Int64N(9e6) }, DefaultPrecisionBits},
		{"lognormal", func() int64 { return int64(math.Exp(rng.NormFloat64()*1.5 + 13)) }, DefaultPrecisionBits},
		{"exponential", func() int64 { return int64(rng.ExpFloat64() * 2e6) }, DefaultPrecisionBits},
		{"bimodal", func() int64 {
			if rng.IntN(100) == 0 {
				return 1e9 + rng.Int64N(1e8)
			}
			return 1e5 + rng.Int64N(1e5)
		}, DefaultPrecisionBits},
		{"coarse", func() int64 { return rng.Int64N(1e9) }, 4},
	}
	quantiles := []float64{0.001, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999, 0.9999}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := NewPrecision(tc.p)
			vals := make([]int64, 100_000)
			for i := range vals {
				vals[i] = tc.gen()
				h.Record(vals[i])
			}
			slices.Sort(vals)
			bound := 1 / float64(int64(2)<<tc.p) // half a bucket, relative
			for _, q := range quantiles {
				want := exactQuantile(vals, q)
				got := h.Quantile(q)
				if diff := math.Abs(float64(got - want)); diff > bound*float64(want)+0.5 {
					t.Errorf("Quantile(%v) = %d, exact %d: error %.4f%% over the bound %.4f%%",
						q, got, want, 100*diff/float64(want), 100*bound)
				}
			}
			if h.Min() != vals[0] || h.Max() != vals[len(vals)-1] {
				t.Errorf("Min, Max = %d, %d; want %d, %d", h.Min(), h.Max(), vals[0], vals[len(vals)-1])
			}
			if h.Quantile(1) != vals[len(vals)-1] || h.Quantile(0) != vals[0] {
				t.Errorf("Quantile(0), Quantile(1) = %d, %d; want the exact min and max", h.Quantile(0), h.Quantile(1))
			}
			var sum float64
			for _, v := range vals {
				sum += float64(v)
			}
			if mean := sum / float64(len(vals)); math.Abs(h.Mean()-mean) > 1e-6*mean {
				t.Errorf("Mean = %f, want %f", h.Mean(), mean)
			}
		})
	}
}

func TestSmallValuesExact(t *testing.T) {
	h := New()
	for v := range int64(1024) {
		h.Record(v)
	}
	for _, tc := range []struct {
		q    float64
		want int64
	}{{0.5, 511}, {0.25, 255}, {0.999, 1022}, {1, 1023}} {
		if got := h.Quantile(tc.q); got != tc.want {
			t.Errorf("Quantile(%v) = %d, want %d", tc.q, got, tc.want)
		}
	}
}

func TestBucketsCoverEveryValue(t *testing.T) {
	h := NewPrecision(3)
	prevHi := int64(-1)
	for i := range 200 {
		lo, w := h.bounds(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, want %d (buckets must be contiguous)", i, lo, prevHi+1)
		}
		for _, v := range []int64{lo, lo + w - 1} {
			if got := h.index(v); got != i {
				t.Fatalf("index(%d) = %d, want %d", v, got, i)
			}
		}
		prevHi = lo + w - 1
	}
	if got := h.index(math.MaxInt64); got < 0 {
		t.Fatalf("index(MaxInt64) = %d", got)
	}
}

func TestMergeAndReset(t *testing.T) {
	a, b, all := New(), New(), New()
	for i := range int64(5000) {
		v := i * 977 % 100_003 * 1000
		all.Record(v)
		if i%2 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	a.Record(5e12) // grows a past b's buckets
	all.Record(5e12)
	b.Merge(a)
	for _, q := range []float64{0.1, 0.5, 0.99, 1} {
		if b.Quantile(q) != all.Quantile(q) {
			t.Errorf("merged Quantile(%v) = %d, want %d", q, b.Quantile(q), all.Quantile(q))
		}
	}
	if b.Count() != all.Count() || b.Max() != 5e12 || b.Min() != all.Min() {
		t.Errorf("merged count/min/max = %d/%d/%d, want %d/%d/%d", b.Count(), b.Min(), b.Max(), all.Count(), all.Min(), all.Max())
	}
	b.Reset()
	if b.Count() != 0 || b.Quantile(0.5) != 0 || b.Max() != 0 || b.Min() != 0 {
		t.Errorf("after Reset: count %d, p50 %d, max %d", b.Count(), b.Quantile(0.5), b.Max())
	}
	b.Record(42)
	if b.Min() != 42 || b.Max() != 42 {
		t.Errorf("after Reset and Record(42): min %d, max %d", b.Min(), b.Max())
	}
}

func TestNegativeCountsAsZero(t *testing.T) {
	h := New()
	h.Record(-5)
	if h.Count() != 1 || h.Max() != 0 {
		t.Fatalf("Record(-5): count %d, max %d", h.Count(), h.Max())
	}
}

func BenchmarkRecord(b *testing.B) {
	h := New()
	v := int64(1)
	b.ReportAllocs()
	for b.Loop() {
		h.Record(v)
		v = (v*31 + 7) & (1<<30 - 1)
	}
}
