// Package e2e holds oakley's end-to-end tests. They run the real oakley binary ($OAKLEY_BIN,
// or one built once by TestMain) in Linux network namespaces the tests create and delete
// themselves, two sites joined by a veth pair:
//
//	[oke-XXXXXX-a] veth0 198.18.0.1/24 (2001:db8:ffff::1/64) ---- veth0 198.18.0.2/24 (2001:db8:ffff::2/64) [oke-XXXXXX-b]
//	 site A: 192.0.2.0/24, 2001:db8:a::/48                          site B: 198.51.100.0/24, 2001:db8:b::/48
//	 its host address 192.0.2.1 on oakley's TUN                      198.51.100.1 on oakley's TUN
//
// Each site runs `oakley up -c <generated toml>` in its namespace with its own control socket
// in the test's temporary directory. Only documentation and benchmark ranges are used.
//
// The tests need root, iproute2 and iputils ping; some need iperf3, tshark, bash or setpriv.
// They skip with a message saying what is missing. Run them with `make e2e` (which sets
// OAKLEY_BIN); E2E_RESULTS names a file the iperf3 figures are appended to, and
// E2E_IPERF_SECONDS the length of each iperf3 run (default 3). The test files are named
// e2e_*_test.go so that their log lines pass the Makefile's output filter.
//
// Connections use keying = "manual" (fixed SAs, RFC 4301 §4.5). The configuration is
// generated in one place (tunnelSpec.sites, siteSpec.toml): tunnelSpec{Keying: "ike"} makes
// the same tunnel with IKEv1 and a PSK (TestIKE). The e2e_interop_*_test.go files test IKE
// against strongSwan, ike-scan and oakley itself. TestReliability (e2e_reliability_test.go)
// holds issue 13's chaos suite, soak and load test, with the impairment relay e2e/impair and
// the load generator e2e/loadgen.
package e2e
