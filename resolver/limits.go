package resolver

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/miekg/dns"

	"github.com/anycastd/anycastd/resolver/dnssec"
)

// Default work limits per client question. They follow Unbound where it
// has an equivalent (iterator.h), scaled to a resolver that does not
// validate yet; docs/resolver.md explains each.
const (
	defaultMaxReferrals             = 16 // zone cuts walked down for one name (Unbound MAX_REFERRAL_COUNT 130 counts more)
	defaultMaxCNAMEChain            = 12 // CNAME/DNAME links (Unbound MAX_RESTART_COUNT 11)
	defaultMaxGluelessPerDelegation = 4  // glueless NS names resolved per zone cut (Unbound target-fetch-policy "3 2 1 0 0")
	defaultMaxUpstreamQueries       = 64 // datagrams and TCP queries sent (Unbound MAX_SENT_COUNT 32 per name, MAX_GLOBAL_QUOTA 200)

	maxCNAMEChain    = defaultMaxCNAMEChain // also bounds the canary's walk
	maxGluelessDepth = 3                    // glueless lookups nested inside glueless lookups
)

// errLimit marks every "a work limit was reached" error, so callers can
// stop trying other servers: the question is lost, more work will not help.
var errLimit = errors.New("work limit reached")

// errBudget is the upstream query limit in particular.
var errBudget = fmt.Errorf("upstream queries: %w", errLimit)

// limitError is the resolver.Error for an exhausted limit: EDE 0 (Other),
// since RFC 8914 has no code for "the resolver chose to stop".
func limitError(text string, cause error) *Error {
	return &Error{Code: dns.ExtendedErrorCodeOther, Text: text, Err: cause}
}

// budget bounds the work one client question may cause, so a hostile or
// broken delegation cannot turn one query into thousands (NXNSAttack).
// Copies share the query counter; depth is per copy.
type budget struct {
	queries *atomic.Int32  // remaining upstream queries, shared by all sub-lookups
	max     int32          // the limit, for the error text
	depth   int            // glueless NS lookups nested above this one
	val     *dnssec.Budget // DNSSEC work for the whole question; nil: no validation
	raw     bool           // a fetch for the chain of trust: cache, but do not validate
}

func newBudget(maxQueries int) budget {
	b := budget{queries: new(atomic.Int32), max: int32(maxQueries)}
	b.queries.Store(int32(maxQueries))
	return b
}

// newBudget is the budget for one client question under r's limits.
func (r *Resolver) newBudget() budget {
	b := newBudget(r.cfg.MaxUpstreamQueries)
	if r.val != nil {
		b.val = r.val.v.NewBudget()
	}
	return b
}

// spend takes one upstream query from the budget.
func (b budget) spend() error {
	if b.queries.Add(-1) < 0 {
		return limitError(fmt.Sprintf("upstream query limit (%d) reached", b.max), errBudget)
	}
	return nil
}

func (b budget) deeper() budget {
	return budget{queries: b.queries, max: b.max, depth: b.depth + 1, val: b.val, raw: b.raw}
}

// used returns how many upstream queries were sent so far.
func (b budget) used() int { return int(b.max - max(b.queries.Load(), 0)) }

func setDefaultInt(v *int, def int) {
	if *v == 0 {
		*v = def
	}
}
