// Command bench is Switchyard's load generator and benchmark suite.
//
// # Load
//
//	bench load [-c 32] [-d 10s | -n N] [-rate R] [-H 'Name: value'] [-m GET] [-body S] [-timeout 10s] [-json] URL
//
// Without -rate, load is a closed loop: -c keep-alive HTTP/1.1 connections
// each send a request as soon as the previous response is read. With -rate,
// it is an open loop: requests are due at a fixed rate whatever the server
// does, and latency is measured from each request's due time, which corrects
// for coordinated omission (a stall counts for every request it delays); the
// latency from the actual send is shown beside it as the service time. The
// report gives throughput, errors by kind, status codes and the latency
// P50/P90/P95/P99/P99.9/max from a log-linear (HdrHistogram-style)
// histogram. On a terminal a progress line is shown while the load runs;
// -json prints the report as JSON instead.
//
// # Suite
//
//	bench suite [-short] [-rounds N] [-d 2s] [-warmup 1s] [-c 32] [-scenarios fast,routed,...]
//	            [-o docs/benchmarks.md] [-memprofile f] [-cpuprofile f]
//
// The suite compares Switchyard with the code one would write without it:
// fast path, routed, cached path, DB path (embedded SQLite), full stack, and
// reload under load. Every server runs as a child process of the bench
// binary (the hidden `bench serve` command) on 127.0.0.1 with a free port, so
// that its peak RSS is read from /proc/PID/status alone. After a warm-up,
// Switchyard and its baseline are measured in interleaved rounds (A B A B
// ...), then at a fixed rate in an open loop. The report prints the medians,
// the median per-round ratios against the targets, and peak RSS and heap per
// server; -o writes it as Markdown. -memprofile and -cpuprofile make each
// server write a profile, named after the scenario and the server.
//
// `make bench` runs the short suite (3 rounds of 2 s, under 3 minutes on two
// cores); without -short the suite runs 5 rounds of 10 s.
package main
