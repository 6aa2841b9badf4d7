package dnssec

import (
	"fmt"
	"time"

	"github.com/miekg/dns"
)

// Defaults for Config fields left zero.
const (
	// DefaultSkew tolerates small clock differences at both ends of a
	// signature's validity period.
	DefaultSkew = 5 * time.Minute
	// DefaultNSEC3Iterations is the largest NSEC3 iteration count
	// validated; above it a proof is Insecure with EDE 27 (RFC 9276
	// section 3.2; the value BIND 9.18+ and Unbound 1.17+ use).
	DefaultNSEC3Iterations = 150
	// DefaultNSEC3HardIterations: above it a proof is Bogus. 2500 is the
	// most RFC 5155 section 10.3 ever allowed.
	DefaultNSEC3HardIterations = 2500
)

// Config configures a Validator. The zero value validates from the
// built-in root anchors with the default limits.
type Config struct {
	Anchors *Anchors // nil: RootAnchors()
	// Insecure lists negative trust anchors (RFC 7646): names at or below
	// them are Insecure unless a positive anchor sits deeper.
	Insecure []string
	// Skew is the clock tolerance at both ends of a validity period;
	// negative means none, zero means DefaultSkew.
	Skew time.Duration
	// NSEC3Iterations and NSEC3HardIterations: zero means the default.
	NSEC3Iterations     uint16
	NSEC3HardIterations uint16
	Limits              Limits // zero fields take DefaultLimits
}

// Validator holds the configuration; it is immutable and safe for
// concurrent use. Per-query state lives in a Budget.
type Validator struct {
	anchors  *Anchors
	negative map[string]bool
	skew     time.Duration
	iterSoft uint16
	iterHard uint16
	limits   Limits
}

// New checks cfg and returns a Validator.
func New(cfg Config) (*Validator, error) {
	v := &Validator{
		anchors:  cfg.Anchors,
		negative: make(map[string]bool),
		skew:     cfg.Skew,
		iterSoft: cfg.NSEC3Iterations,
		iterHard: cfg.NSEC3HardIterations,
		limits:   cfg.Limits.withDefaults(),
	}
	if v.anchors == nil {
		v.anchors = RootAnchors()
	}
	for _, n := range cfg.Insecure {
		if _, ok := dns.IsDomainName(n); !ok || n == "" {
			return nil, fmt.Errorf("dnssec config: insecure domain %q: not a domain name", n)
		}
		v.negative[dns.CanonicalName(n)] = true
	}
	switch {
	case v.skew == 0:
		v.skew = DefaultSkew
	case v.skew < 0:
		v.skew = 0
	}
	if v.iterSoft == 0 {
		v.iterSoft = DefaultNSEC3Iterations
	}
	if v.iterHard == 0 {
		v.iterHard = DefaultNSEC3HardIterations
	}
	if v.iterHard < v.iterSoft {
		return nil, fmt.Errorf("dnssec config: nsec3 hard iteration limit %d below soft limit %d", v.iterHard, v.iterSoft)
	}
	return v, nil
}

// NewBudget returns a fresh work budget for one client query.
func (v *Validator) NewBudget() *Budget { return &Budget{limits: v.limits} }

// Anchor says where validation of name starts: Secure with the anchored
// zone and its DS set (validate that zone's DNSKEYs against ds, then walk
// down), Insecure when a negative trust anchor governs name, Indeterminate
// when no anchor covers it.
func (v *Validator) Anchor(name string) (zone string, ds []*dns.DS, st Status) {
	zone, ds, ok := v.anchors.Closest(name)
	nta, isNTA := closestName(v.negative, name)
	if isNTA && (!ok || dns.CountLabel(nta) >= dns.CountLabel(zone)) {
		return nta, nil, Insecure
	}
	if !ok {
		return "", nil, Indeterminate
	}
	return zone, ds, Secure
}

// budgetOrNew keeps every entry point bounded even if a caller forgets to
// pass a budget.
func (v *Validator) budgetOrNew(b *Budget) *Budget {
	if b == nil {
		return v.NewBudget()
	}
	return b
}

// serialTime places a 32-bit RRSIG timestamp in the 2^32-second window
// centred on now (RFC 1982 serial arithmetic, RFC 4034 section 3.1.5).
func serialTime(v uint32, now int64) int64 {
	return now + int64(int32(v-uint32(now)))
}

// checkValidity returns 0 when sig is valid at now within skew, else the
// EDE code for why not.
func (v *Validator) checkValidity(sig *dns.RRSIG, now time.Time) uint16 {
	t := now.Unix()
	incep := serialTime(sig.Inception, t)
	exp := serialTime(sig.Expiration, t)
	skew := int64(v.skew / time.Second)
	switch {
	case exp < incep:
		return dns.ExtendedErrorCodeSignatureExpiredBeforeValid
	case t+skew < incep:
		return dns.ExtendedErrorCodeSignatureNotYetValid
	case t-skew > exp:
		return dns.ExtendedErrorCodeSignatureExpired
	}
	return 0
}
