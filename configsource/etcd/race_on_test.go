//go:build race

package etcd_test

// raceEnabled: the race detector slows every request several times, so the
// request-rate floor of the load tests is checked only without it.
const raceEnabled = true
