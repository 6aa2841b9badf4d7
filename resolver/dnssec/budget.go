package dnssec

// Limits caps the validation work one client query may cause. The defaults
// follow what Unbound, BIND and PowerDNS Recursor settled on after KeyTrap
// (CVE-2023-50387) and the NSEC3 closest-encloser attack (CVE-2023-50868);
// docs/dnssec.md has the comparison.
type Limits struct {
	// KeysPerSignature caps the DNSKEYs tried for one RRSIG, i.e. how many
	// key-tag collisions are tolerated (and, for a DS, how many keys are
	// hashed against it).
	KeysPerSignature int
	// SignaturesPerRRset caps the RRSIGs tried for one RRset.
	SignaturesPerRRset int
	// Verifications caps the signature verifications for the whole query.
	Verifications int
	// Failures caps the verifications that fail for the whole query; a
	// legitimate chain almost never fails one, an attack fails all of them.
	Failures int
	// NSEC3Hashes caps the NSEC3 owner-name hash computations for the
	// whole query.
	NSEC3Hashes int
}

// DefaultLimits are used for every zero field of Config.Limits.
var DefaultLimits = Limits{
	KeysPerSignature:   4,
	SignaturesPerRRset: 8,
	Verifications:      32,
	Failures:           4,
	NSEC3Hashes:        64,
}

func (l Limits) withDefaults() Limits {
	if l.KeysPerSignature <= 0 {
		l.KeysPerSignature = DefaultLimits.KeysPerSignature
	}
	if l.SignaturesPerRRset <= 0 {
		l.SignaturesPerRRset = DefaultLimits.SignaturesPerRRset
	}
	if l.Verifications <= 0 {
		l.Verifications = DefaultLimits.Verifications
	}
	if l.Failures <= 0 {
		l.Failures = DefaultLimits.Failures
	}
	if l.NSEC3Hashes <= 0 {
		l.NSEC3Hashes = DefaultLimits.NSEC3Hashes
	}
	return l
}

// Budget counts the validation work done for one client query. It is not
// safe for concurrent use: one query, one goroutine, one Budget. Get one
// from Validator.NewBudget and pass it to every call made for that query;
// once exhausted it stays exhausted, so a query cannot restart its way
// around the caps.
type Budget struct {
	limits        Limits
	verifications int
	failures      int
	hashes        int
}

// Verifications returns how many signature verifications were run.
func (b *Budget) Verifications() int { return b.verifications }

// Failures returns how many signature verifications failed.
func (b *Budget) Failures() int { return b.failures }

// Hashes returns how many NSEC3 hashes were computed.
func (b *Budget) Hashes() int { return b.hashes }

// Exhausted reports whether any cap was reached.
func (b *Budget) Exhausted() bool {
	return b.verifications >= b.limits.Verifications ||
		b.failures >= b.limits.Failures ||
		b.hashes >= b.limits.NSEC3Hashes
}

// spendVerification reserves one verification; false when none is left.
func (b *Budget) spendVerification() bool {
	if b.verifications >= b.limits.Verifications || b.failures >= b.limits.Failures {
		return false
	}
	b.verifications++
	return true
}

func (b *Budget) fail() { b.failures++ }

// spendHash reserves one NSEC3 hash; false when none is left.
func (b *Budget) spendHash() bool {
	if b.hashes >= b.limits.NSEC3Hashes {
		return false
	}
	b.hashes++
	return true
}
