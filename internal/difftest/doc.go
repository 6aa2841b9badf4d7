// Package difftest holds the tests that prove the resolver against the
// mini internet in a private network namespace: the differential test
// against Unbound, the spoofing test and the NXNS limits test. It has no
// API; everything lives in _test.go files. See docs/mininet.md and the
// "Differences from Unbound" section of docs/resolver.md.
package difftest
