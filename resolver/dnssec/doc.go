// Package dnssec is the DNSSEC validation core of the resolver: trust
// anchors, DS -> DNSKEY -> RRSIG verification, NSEC and NSEC3 denial
// proofs, aggressive use of validated NSEC/NSEC3 ranges (RFC 8198), and the
// per-query work budget that keeps KeyTrap-style inputs (CVE-2023-50387,
// CVE-2023-50868) from pinning a worker.
//
// The package does no I/O and keeps no caches: every function takes the
// records it needs and an injected time, so the resolver decides what to
// fetch and what to cache, and caches the Result with the data. Denial
// proofs take NSEC/NSEC3 records whose signatures the caller has already
// verified with VerifyRRset.
//
// See docs/dnssec.md for the limits, their defaults and the EDE mapping.
package dnssec
