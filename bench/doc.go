// Package bench holds certagent's Go benchmarks; bench/run runs them next
// to the peer tools and writes docs/benchmarks.md. The package has no
// code of its own: see localca_bench_test.go.
package bench
