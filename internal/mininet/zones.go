package mininet

import (
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// This file is the whole content of the mini internet: which servers exist,
// which zones each one serves, and the zone data. docs/mininet.md documents
// the names; the resolver tests and the lab demo rely on them, so change both
// together.
//
// Server addresses depend on Config, so the zone text never spells them: the
// builder adds an A (and, with Prefix6, an AAAA) record for every server name
// to each zone that contains the name, either as authoritative data or as glue
// for an NS record of that zone. Out-of-zone NS targets get no glue, which is
// what makes glueless.com glueless.

// serverSpec is one authoritative server. Servers take host numbers 1, 2, ...
// in the order of the servers table.
type serverSpec struct {
	name  string   // the server's host name, FQDN
	zones []string // origins it is authoritative for
	// unbound servers get an address and glue but nothing listens there, so
	// a resolver can be tested against a dead name server.
	unbound bool
	// v6only servers get only an IPv6 address (and AAAA glue only); without
	// Config.Prefix6 they have no address and are not bound.
	v6only bool
	// behaviour is how the server bends the protocol, for resolver tests.
	behaviour Behaviour
	// latency is the server's initial SetLatency value.
	latency time.Duration
}

var servers = []serverSpec{
	{name: "a.root-servers.net.", zones: []string{".", "root-servers.net."}},
	{name: "b.root-servers.net.", zones: []string{".", "root-servers.net."}},
	{name: "a.nic.com.", zones: []string{"com."}},
	{name: "b.nic.com.", zones: []string{"com."}},
	{name: "a.nic.net.", zones: []string{"net."}},
	{name: "a.nic.org.", zones: []string{"org."}},
	{name: "a.nic.lab.", zones: []string{"lab."}},
	{name: "ns1.example.com.", zones: []string{"example.com.", "chain.com.", "mixed.com."}},
	{name: "ns2.example.com.", zones: []string{"example.com.", "chain.com.", "mixed.com.", "partlame.com."}},
	{name: "ns.hosting.net.", zones: []string{"hosting.net.", "glueless.com."}},
	{name: "ns.example.net.", zones: []string{"example.net."}},
	{name: "ns.example.org.", zones: []string{"example.org.", "victim.evil.", "plain.org."}},
	{name: "ns.anycastd.lab.", zones: []string{"anycastd.lab.", "canary.lab."}},
	{name: "ns.dead.com.", unbound: true},
	// Hosts 15 and up: one server per hard case (docs/mininet.md).
	{name: "ns.formerr.com.", zones: []string{"formerr.com."}, behaviour: FormErrEDNS},
	{name: "ns.dropedns.com.", zones: []string{"dropedns.com."}, behaviour: DropEDNS},
	{name: "ns.lower.com.", zones: []string{"lower.com."}, behaviour: LowerCase},
	{name: "ns.slow.com.", zones: []string{"slow.com."}, latency: 300 * time.Millisecond},
	{name: "ns.v6only.com.", zones: []string{"v6only.com."}, v6only: true},
	{name: "a.nic.evil.", zones: []string{"evil."}},
	{name: "ns.spam.net.", zones: []string{"spam.net."}},
	{name: "ns.sink.net.", zones: []string{"sink.net."}},
	{name: "ns.bench.lab.", zones: []string{"bench.lab."}},
	{name: "ns.spoof.com.", zones: []string{"spoof.com."}},
	// Hosts 25 and 26: the TLD test. and its deliberately broken signed
	// zones (the signed table below).
	{name: "a.nic.test.", zones: []string{"test."}},
	{name: "ns.broken.test.", zones: brokenZones},
}

// zoneSpec is the master-file text of one zone; origin is its apex.
type zoneSpec struct {
	origin string
	text   string
}

// zoneJunk is, per zone, master-file text (absolute names, any owner) that
// the server adds to every response from the zone: A/AAAA records to
// additional, everything else to authority. It is the poisoning attempt a
// resolver must ignore; it is never served as data.
var zoneJunk = map[string]string{
	// The TLD evil. hands out "glue" for names in other TLDs with a wrong
	// address with every referral: the classic cache-poisoning attempt.
	"evil.": `
ns.example.org.	172800	IN A	198.51.100.66
www.example.com.	172800	IN A	198.51.100.66
`,
	// spam.net.'s server adds unrelated records to every answer: a bogus
	// address for www.example.com. and a claim to serve example.com.
	"spam.net.": `
www.example.com.	3600	IN A	198.51.100.66
example.com.	3600	IN NS	ns.spam.net.
`,
}

// zoneTexts holds every zone. Negative TTLs (min of SOA TTL and SOA minimum)
// are kept short, 300s for root and TLDs and 60s for leaves, so lab runs do
// not stay poisoned by a typo for long.
var zoneTexts = []zoneSpec{
	{".", `
$TTL 86400
.	86400	IN SOA	a.root-servers.net. nstld.root-servers.net. 2025010101 1800 900 604800 300
.	518400	IN NS	a.root-servers.net.
.	518400	IN NS	b.root-servers.net.
com.	172800	IN NS	a.nic.com.
com.	172800	IN NS	b.nic.com.
net.	172800	IN NS	a.nic.net.
org.	172800	IN NS	a.nic.org.
lab.	172800	IN NS	a.nic.lab.
evil.	172800	IN NS	a.nic.evil.
test.	172800	IN NS	a.nic.test.
`},
	{"root-servers.net.", `
$TTL 3600000
@	3600000	IN SOA	a.root-servers.net. nstld.root-servers.net. 2025010101 14400 7200 1209600 300
@	3600000	IN NS	a.root-servers.net.
@	3600000	IN NS	b.root-servers.net.
`},
	{"com.", `
$TTL 86400
@	900	IN SOA	a.nic.com. hostmaster.nic.com. 2025010101 1800 900 604800 300
@	172800	IN NS	a.nic.com.
@	172800	IN NS	b.nic.com.
example		172800	IN NS	ns1.example.com.
example		172800	IN NS	ns2.example.com.
chain		172800	IN NS	ns1.example.com.
chain		172800	IN NS	ns2.example.com.
; glueless: the only name server lives in another TLD, so com. has no glue
; and the resolver must resolve ns.hosting.net. first.
glueless	172800	IN NS	ns.hosting.net.
; lame: delegated to a server that does not serve the zone (REFUSED).
lame		172800	IN NS	ns.example.net.
; dead: the only name server has an address where nothing listens.
dead		172800	IN NS	ns.dead.com.
; mixed: one dead and two working name servers.
mixed		172800	IN NS	ns.dead.com.
mixed		172800	IN NS	ns1.example.com.
mixed		172800	IN NS	ns2.example.com.
; partlame: one server REFUSES (not authoritative), one is dead, one works.
partlame	172800	IN NS	ns.example.net.
partlame	172800	IN NS	ns.dead.com.
partlame	172800	IN NS	ns2.example.com.
; one server per protocol quirk (see the servers table)
formerr		172800	IN NS	ns.formerr.com.
dropedns	172800	IN NS	ns.dropedns.com.
lower		172800	IN NS	ns.lower.com.
slow		172800	IN NS	ns.slow.com.
spoof		172800	IN NS	ns.spoof.com.
; v6only: ns.v6only.com has only an IPv6 address, so com. has AAAA glue only.
v6only		172800	IN NS	ns.v6only.com.
; nxns: NXNSAttack-style delegation to 50 glueless names that do not exist.
` + nxnsDelegation(50)},
	{"net.", `
$TTL 86400
@	900	IN SOA	a.nic.net. hostmaster.nic.net. 2025010101 1800 900 604800 300
@	172800	IN NS	a.nic.net.
root-servers	172800	IN NS	a.root-servers.net.
root-servers	172800	IN NS	b.root-servers.net.
hosting		172800	IN NS	ns.hosting.net.
example		172800	IN NS	ns.example.net.
spam		172800	IN NS	ns.spam.net.
; sink: its server answers NXDOMAIN for the nxns.com. name servers
sink		172800	IN NS	ns.sink.net.
`},
	{"org.", `
$TTL 86400
@	900	IN SOA	a.nic.org. hostmaster.nic.org. 2025010101 1800 900 604800 300
@	172800	IN NS	a.nic.org.
example		172800	IN NS	ns.example.org.
; plain: unsigned, so org. proves with NSEC3 that it has no DS
plain		172800	IN NS	ns.example.org.
`},
	{"lab.", `
$TTL 86400
@	900	IN SOA	a.nic.lab. hostmaster.nic.lab. 2025010101 1800 900 604800 300
@	172800	IN NS	a.nic.lab.
anycastd	172800	IN NS	ns.anycastd.lab.
bench		172800	IN NS	ns.bench.lab.
; canary: good.canary.lab. validates, bad.canary.lab. has a bad signature
canary		172800	IN NS	ns.anycastd.lab.
`},
	{"example.com.", `
$TTL 3600
@	3600	IN SOA	ns1 hostmaster 2025010101 7200 900 1209600 60
@	IN NS	ns1
@	IN NS	ns2
@	IN MX	10 mail
@	IN TXT	"v=spf1 mx -all"
www	IN A	198.51.100.80
www	IN AAAA	2001:db8:100::80
mail	IN A	198.51.100.25
mail	IN AAAA	2001:db8:100::25
; in-zone CNAME, chased by the server
alias	IN CNAME www
; CNAME into another zone, not chased by the server
outside	IN CNAME www.example.org.
; b.c.example.com. and c.example.com. are empty non-terminals (NODATA)
a.b.c	IN A	198.51.100.86
short	5	IN A	198.51.100.87
; wildcards (RFC 4592): A and TXT at *.wild, a real name beside them, and a
; wildcard CNAME chased by the server
*.wild	IN A	198.51.100.91
*.wild	IN TXT	"wildcard"
exists.wild	IN A	198.51.100.92
*.cw	IN CNAME	www
; CNAME into the lame zone lame.com: SERVFAIL
tolame	IN CNAME	www.lame.com.
` + txtRRs("big", 8, 200) + txtRRs("medium", 3, 200)},
	{"chain.com.", `
$TTL 3600
@	3600	IN SOA	ns1.example.com. hostmaster.example.com. 2025010101 7200 900 1209600 60
@	IN NS	ns1.example.com.
@	IN NS	ns2.example.com.
; www.chain.com -> alias.example.net -> final.example.org, across three zones
www	IN CNAME	alias.example.net.
`},
	{"mixed.com.", `
$TTL 3600
@	3600	IN SOA	ns1.example.com. hostmaster.example.com. 2025010101 7200 900 1209600 60
@	IN NS	ns.dead.com.
@	IN NS	ns1.example.com.
@	IN NS	ns2.example.com.
www	IN A	198.51.100.88
`},
	{"hosting.net.", `
$TTL 3600
@	3600	IN SOA	ns.hosting.net. hostmaster.hosting.net. 2025010101 7200 900 1209600 60
@	IN NS	ns.hosting.net.
www	IN A	198.51.100.89
`},
	{"glueless.com.", `
$TTL 3600
@	3600	IN SOA	ns.hosting.net. hostmaster.hosting.net. 2025010101 7200 900 1209600 60
@	IN NS	ns.hosting.net.
www	IN A	198.51.100.84
www	IN AAAA	2001:db8:100::84
`},
	{"example.net.", `
$TTL 3600
@	3600	IN SOA	ns.example.net. hostmaster.example.net. 2025010101 7200 900 1209600 60
@	IN NS	ns.example.net.
www	IN A	198.51.100.81
alias	IN CNAME	final.example.org.
; DNAME (RFC 6672): the server synthesises the CNAME, the resolver follows it
dname	IN DNAME	target.example.org.
; a wildcard in an NSEC3 zone, for NSEC3 wildcard proofs
*.wild	IN TXT	"wildcard"
`},
	{"example.org.", `
$TTL 3600
@	3600	IN SOA	ns.example.org. hostmaster.example.org. 2025010101 7200 900 1209600 60
@	IN NS	ns.example.org.
@	IN MX	10 mail
@	IN TXT	"v=spf1 mx -all"
www	IN A	198.51.100.83
www	IN AAAA	2001:db8:100::83
mail	IN A	198.51.100.26
final	IN A	198.51.100.82
www.target	IN A	198.51.100.90
; wildcards and an empty non-terminal in an NSEC zone, for NSEC proofs
*.wild	IN A	198.51.100.93
*.wild	IN TXT	"wildcard"
exists.wild	IN A	198.51.100.94
*.cw	IN CNAME	www
a.b.c	IN A	198.51.100.86
`},
	{"anycastd.lab.", `
$TTL 3600
@	3600	IN SOA	ns.anycastd.lab. hostmaster.anycastd.lab. 2025010101 7200 900 1209600 60
@	IN NS	ns.anycastd.lab.
; the lab's health canary: short TTL so a node keeps asking upstream
canary	5	IN A	198.51.100.250
canary	5	IN AAAA	2001:db8:100::250
`},
}

// moreZones are the zones for the hard cases (hosts 15 and up).
var moreZones = []zoneSpec{
	{origin: "partlame.com.", text: leaf("partlame.com.", "ns2.example.com.",
		"@ IN NS ns.example.net.\n@ IN NS ns.dead.com.\nwww IN A 198.51.100.95")},
	{origin: "formerr.com.", text: leaf("formerr.com.", "ns.formerr.com.", "www IN A 198.51.100.96")},
	{origin: "dropedns.com.", text: leaf("dropedns.com.", "ns.dropedns.com.", "www IN A 198.51.100.97")},
	{origin: "lower.com.", text: leaf("lower.com.", "ns.lower.com.", "www IN A 198.51.100.98")},
	{origin: "slow.com.", text: leaf("slow.com.", "ns.slow.com.", "www IN A 198.51.100.99")},
	// spoof.com.: every name exists, so a spoofing test can race forged
	// answers against many cold look-ups.
	{origin: "spoof.com.", text: leaf("spoof.com.", "ns.spoof.com.", "www IN A 198.51.100.100\n* IN A 198.51.100.101")},
	{origin: "v6only.com.", text: leaf("v6only.com.", "ns.v6only.com.", "www IN A 198.51.100.104")},
	{origin: "evil.", text: `
$TTL 86400
@	900	IN SOA	a.nic.evil. hostmaster.nic.evil. 2025010101 1800 900 604800 300
@	172800	IN NS	a.nic.evil.
victim	172800	IN NS	ns.example.org.
`},
	{origin: "victim.evil.", text: leaf("victim.evil.", "ns.example.org.", "www IN A 198.51.100.105")},
	{origin: "spam.net.", text: leaf("spam.net.", "ns.spam.net.", "www IN A 198.51.100.106")},
	{origin: "sink.net.", text: leaf("sink.net.", "ns.sink.net.", "")},
	// bench.lab.: any name below it exists, for benches with many distinct names.
	{origin: "bench.lab.", text: leaf("bench.lab.", "ns.bench.lab.", "* IN A 198.51.100.108\n* IN AAAA 2001:db8:100::108")},
	{origin: "plain.org.", text: leaf("plain.org.", "ns.example.org.", "www IN A 198.51.100.109")},
	{origin: "canary.lab.", text: leaf("canary.lab.", "ns.anycastd.lab.", "good 5 IN A 198.51.100.251\nbad 5 IN A 198.51.100.252")},
	{origin: "test.", text: testTLD()},
}

// leaf returns a leaf zone: SOA, one NS and body (newline-separated records
// relative to origin).
func leaf(origin, ns, body string) string {
	return fmt.Sprintf("$TTL 3600\n@\t3600\tIN SOA\t%s hostmaster.%s 2025010101 7200 900 1209600 60\n@\tIN NS\t%s\n%s\n",
		ns, origin, ns, body)
}

// nxnsDelegation delegates nxns.com. to n glueless names in sink.net., none
// of which exists.
func nxnsDelegation(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "nxns\t172800\tIN NS\tns%d.sink.net.\n", i)
	}
	return b.String()
}

// txtRRs returns n TXT records at owner, each with one string of size bytes;
// the strings differ so the records are not duplicates.
func txtRRs(owner string, n, size int) string {
	var b strings.Builder
	for i := range n {
		prefix := fmt.Sprintf("%s-%d-", owner, i)
		fmt.Fprintf(&b, "%s\tIN TXT\t\"%s%s\"\n", owner, prefix, strings.Repeat("x", size-len(prefix)))
	}
	return b.String()
}

// brokenZones are the children of test., one per way a signed zone can be
// broken, all served by ns.broken.test. (host 26).
var brokenZones = []string{
	"ds-mismatch.test.", "expired.test.", "not-yet-valid.test.", "missing-rrsig.test.",
	"nsec3-iter500.test.", "keytrap.test.", "alg-unsupported.test.", "rsa-exponent.test.",
	"zsk-only.test.", "bad-nsec.test.", "good.test.",
}

// testTLD returns the zone test., which delegates every broken zone (with
// its DS, see the signed table) to ns.broken.test.
func testTLD() string {
	var b strings.Builder
	b.WriteString("$TTL 86400\n@\t900\tIN SOA\ta.nic.test. hostmaster.nic.test. 2025010101 1800 900 604800 300\n@\t172800\tIN NS\ta.nic.test.\n")
	for _, z := range brokenZones {
		fmt.Fprintf(&b, "%s\t172800\tIN NS\tns.broken.test.\n", z)
	}
	return b.String()
}

// brokenZoneText is the content of each broken zone: an A record at www, a
// wildcard-free name space, and bad.<zone> for zones that corrupt it.
func brokenZoneText(origin string) string {
	return leaf(origin, "ns.broken.test.", "www IN A 198.51.100.110\nwww IN TXT \"broken\"")
}

// signed says which zones are signed and how (docs/mininet.md, "Signed
// zones"). Every other zone is unsigned, and its parent proves it has no DS.
// The mix covers the algorithms resolvers must validate (8, 10, 13, 14, 15),
// KSK+ZSK and CSK, NSEC, NSEC3 and NSEC3 opt-out.
var signed = map[string]signing{
	".":             {alg: dns.RSASHA256, denial: NSEC},
	"com.":          {alg: dns.ECDSAP256SHA256, denial: NSEC3OptOut},
	"net.":          {alg: dns.ECDSAP384SHA384, csk: true, denial: NSEC},
	"org.":          {alg: dns.ED25519, denial: NSEC3},
	"lab.":          {alg: dns.RSASHA512, csk: true, denial: NSEC3},
	"test.":         {alg: dns.ECDSAP256SHA256, csk: true, denial: NSEC},
	"chain.com.":    {alg: dns.ED25519, csk: true, denial: NSEC},
	"example.net.":  {alg: dns.ECDSAP256SHA256, denial: NSEC3},
	"example.org.":  {alg: dns.ECDSAP384SHA384, denial: NSEC},
	"anycastd.lab.": {alg: dns.RSASHA256, csk: true, denial: NSEC3},
	"canary.lab.":   {alg: dns.ED25519, csk: true, denial: NSEC, broken: badSig},

	"good.test.":            {alg: dns.ECDSAP256SHA256, csk: true, denial: NSEC},
	"ds-mismatch.test.":     {alg: dns.ECDSAP256SHA256, csk: true, denial: NSEC, broken: dsMismatch},
	"expired.test.":         {alg: dns.ECDSAP256SHA256, csk: true, denial: NSEC, broken: expired},
	"not-yet-valid.test.":   {alg: dns.ED25519, csk: true, denial: NSEC, broken: notYetValid},
	"missing-rrsig.test.":   {alg: dns.ECDSAP256SHA256, csk: true, denial: NSEC, broken: missingSig},
	"nsec3-iter500.test.":   {alg: dns.ECDSAP256SHA256, csk: true, denial: NSEC3, iterations: 500},
	"keytrap.test.":         {alg: dns.ECDSAP256SHA256, csk: true, denial: NSEC, broken: keyTrap},
	"alg-unsupported.test.": {alg: dns.PRIVATEDNS, csk: true, denial: NSEC, broken: unsupportedAlg},
	"rsa-exponent.test.":    {alg: dns.RSASHA256, csk: true, denial: NSEC, broken: badExponent},
	"zsk-only.test.":        {alg: dns.ECDSAP256SHA256, denial: NSEC, broken: zskOnly},
	"bad-nsec.test.":        {alg: dns.ECDSAP256SHA256, csk: true, denial: NSEC, broken: bogusNXDOMAIN},
}
