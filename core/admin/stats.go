package admin

import (
	"math"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// The metric families that GET {prefix}/api/stats reads from the host's own
// Prometheus registry.
const (
	requestsFamily = "switchyard_http_requests_total"
	durationFamily = "switchyard_http_request_duration_seconds"
	inFlightFamily = "switchyard_http_requests_in_flight"
	connsFamily    = "switchyard_connections_active"
)

// statsView is GET {prefix}/api/stats: the host's request counters and
// latency histogram, summed over every route, at one instant. Counters are
// totals since the host started: a client that polls computes rates and
// interval quantiles from the difference between two answers (the
// dashboard does, every second).
type statsView struct {
	// Time is when the numbers were read, in Unix seconds.
	Time float64 `json:"time"`
	// Version is the serving configuration version.
	Version string `json:"version"`
	// Reloads is the number of entries in the reload history and
	// LastReload the time of the newest (it changes on every reload,
	// applied or rejected); LastReloadOK says whether that one succeeded.
	Reloads      int    `json:"reloads"`
	LastReload   string `json:"last_reload,omitempty"`
	LastReloadOK bool   `json:"last_reload_ok"`
	// Requests is switchyard_http_requests_total summed over every series.
	Requests float64 `json:"requests_total"`
	// Errors counts the requests answered with a 5xx status.
	Errors float64 `json:"errors_total"`
	// InFlight and Connections are the gauges of the same names.
	InFlight    float64 `json:"in_flight"`
	Connections float64 `json:"connections_active"`
	// Latency is switchyard_http_request_duration_seconds merged over
	// every route.
	Latency latencyView `json:"latency"`
}

// latencyView is a merged classic histogram with its quantiles.
type latencyView struct {
	// Count and SumSeconds are the histogram's count and sum.
	Count      uint64  `json:"count"`
	SumSeconds float64 `json:"sum_seconds"`
	// Buckets are the cumulative counts by upper bound in seconds, in
	// increasing order; the +Inf bucket is left out (its count is Count).
	Buckets []bucketView `json:"buckets"`
	// P50MS and P99MS are the median and 99th percentile since the host
	// started, in milliseconds, estimated as Prometheus's
	// histogram_quantile does; 0 before the first request.
	P50MS float64 `json:"p50_ms"`
	P99MS float64 `json:"p99_ms"`
}

// bucketView is one cumulative histogram bucket.
type bucketView struct {
	LE    float64 `json:"le"`
	Count uint64  `json:"count"`
}

func (a *api) apiStats() statsView {
	v := statsView{Time: float64(time.Now().UnixMilli()) / 1000, Latency: latencyView{Buckets: []bucketView{}}}
	if s := a.h.Snapshot(); s != nil {
		v.Version = s.Version
	}
	hist := a.h.History()
	v.Reloads = len(hist)
	if len(hist) > 0 {
		v.LastReload = timeOrZero(hist[0].Time)
		v.LastReloadOK = hist[0].Success
	}
	// Gather returns what it could collect along with any error; a
	// collector failing elsewhere must not blank the dashboard.
	mfs, _ := a.h.Metrics().Gather()
	for _, mf := range mfs {
		switch mf.GetName() {
		case requestsFamily:
			for _, m := range mf.GetMetric() {
				n := m.GetCounter().GetValue()
				v.Requests += n
				if strings.HasPrefix(labelValue(m, "code"), "5") {
					v.Errors += n
				}
			}
		case durationFamily:
			v.Latency = mergeHistograms(mf.GetMetric())
		case inFlightFamily:
			// The gauge counts this request too: the dashboard shows
			// the traffic it watches, not its own poll.
			v.InFlight = max(0, gaugeSum(mf)-1)
		case connsFamily:
			v.Connections = gaugeSum(mf)
		}
	}
	return v
}

func labelValue(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

func gaugeSum(mf *dto.MetricFamily) float64 {
	var sum float64
	for _, m := range mf.GetMetric() {
		sum += m.GetGauge().GetValue()
	}
	return sum
}

// mergeHistograms adds up the classic buckets of every series (every route
// uses the same bounds; a bound missing from a series is filled from that
// series' next larger one, which is what its cumulative count means).
func mergeHistograms(ms []*dto.Metric) latencyView {
	var bounds []float64
	for _, m := range ms {
		for _, b := range m.GetHistogram().GetBucket() {
			if ub := b.GetUpperBound(); !math.IsInf(ub, +1) && !slices.Contains(bounds, ub) {
				bounds = append(bounds, ub)
			}
		}
	}
	slices.Sort(bounds)
	v := latencyView{Buckets: make([]bucketView, len(bounds))}
	for i, ub := range bounds {
		v.Buckets[i].LE = ub
	}
	for _, m := range ms {
		hg := m.GetHistogram()
		v.Count += hg.GetSampleCount()
		v.SumSeconds += hg.GetSampleSum()
		bs := hg.GetBucket()
		j := 0
		for i, ub := range bounds {
			for j < len(bs) && bs[j].GetUpperBound() < ub {
				j++
			}
			if j < len(bs) {
				v.Buckets[i].Count += bs[j].GetCumulativeCount()
			} else {
				v.Buckets[i].Count += hg.GetSampleCount()
			}
		}
	}
	v.P50MS = 1000 * bucketQuantile(0.5, v.Buckets, v.Count)
	v.P99MS = 1000 * bucketQuantile(0.99, v.Buckets, v.Count)
	return v
}

// bucketQuantile estimates the q-quantile of a classic histogram as
// Prometheus's histogram_quantile does: find the bucket holding the rank
// q*count and interpolate linearly inside it (the first bucket starts at 0).
// A rank in the +Inf bucket gives the largest finite bound. It returns 0
// when count is 0.
func bucketQuantile(q float64, buckets []bucketView, count uint64) float64 {
	if count == 0 || len(buckets) == 0 {
		return 0
	}
	rank := q * float64(count)
	lower, below := 0.0, uint64(0)
	for _, b := range buckets {
		if float64(b.Count) >= rank {
			in := b.Count - below
			if in == 0 {
				return b.LE
			}
			return lower + (b.LE-lower)*(rank-float64(below))/float64(in)
		}
		lower, below = b.LE, b.Count
	}
	return buckets[len(buckets)-1].LE
}
