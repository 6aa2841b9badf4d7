// Package resolver is anycastd's recursive DNS resolver: UDP and TCP
// listeners, an iterator that walks the delegation tree from the root hints,
// a cache bounded in bytes that keeps answers in wire form, and coalescing of
// identical questions that are in flight.
//
// The pieces and the files that hold them:
//
//	resolver.go  Resolver, New, Run, Resolve: the public surface
//	config.go    Config and its defaults
//	listen.go    sockets (IP_FREEBIND) and the miekg/dns servers
//	serve.go     the client-facing handler: EDNS, NSID, truncation, RD=0
//	iterate.go   iterative resolution: referrals, glue, CNAMEs, negatives
//	upstream.go  the only code that talks to authoritative servers: random
//	             ID and source port, answer matching, TCP after TC, retries
//	cache.go     otter cache of wire-form entries with TTL bookkeeping
//	canary.go    the health canary query
//	roothints.go named.root parsing and the built-in IANA hints
//
// Client addresses never leave the handler: they are not logged, counted
// or labelled anywhere in this package.
package resolver
