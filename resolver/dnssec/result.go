package dnssec

import (
	"errors"
	"fmt"
	"time"

	"github.com/miekg/dns"
)

// Status is the security status of data (RFC 4033 section 5, RFC 4035
// section 4.3).
type Status uint8

const (
	// Indeterminate: no trust anchor covers the name, so nothing can be said.
	Indeterminate Status = iota
	// Secure: a chain of trust from an anchor validates the data (for a
	// Prove* function: the denial is proven).
	Secure
	// Insecure: the data is provably outside any chain of trust (unsigned
	// delegation, unsupported algorithm or digest, opt-out, a negative
	// trust anchor, NSEC3 iterations over the limit). Answer without AD.
	Insecure
	// Bogus: the data should validate and does not. Answer SERVFAIL with
	// the EDE carried by the error.
	Bogus
)

func (s Status) String() string {
	switch s {
	case Secure:
		return "secure"
	case Insecure:
		return "insecure"
	case Bogus:
		return "bogus"
	default:
		return "indeterminate"
	}
}

// Result is what the validator concluded about one RRset or proof; the
// resolver caches it with the data.
type Result struct {
	Status Status
	// Until, when Status is Secure from signatures, is the earliest
	// expiration among the signatures relied on: the data must not be
	// served as Secure from cache after it (RFC 4035 section 5.3.3).
	Until time.Time
	// Sig is the signature that validated the RRset (VerifyRRset,
	// VerifyDNSKEYs). When Wildcard reports true the caller must also
	// get ProveWildcard to succeed before trusting the answer.
	Sig *dns.RRSIG
}

// Wildcard reports whether the validated RRset was synthesised from a
// wildcard: the signature covers fewer labels than the owner name has.
func (r Result) Wildcard() bool {
	if r.Sig == nil {
		return false
	}
	owner := r.Sig.Hdr.Name
	n := dns.CountLabel(owner)
	if len(owner) > 1 && owner[0] == '*' && owner[1] == '.' {
		n-- // RFC 4034 3.1.3: the leftmost "*" is not counted
	}
	return int(r.Sig.Labels) < n
}

// ErrBudgetExhausted is wrapped by the *Error returned when a query used up
// its validation budget.
var ErrBudgetExhausted = errors.New("validation budget exhausted")

// Error explains a result that is not Secure. With Bogus it is the reason
// for SERVFAIL; with Insecure it is informational (attach the EDE, answer
// normally). Its fields match resolver.Error so the resolver can copy them.
type Error struct {
	Code uint16 // dns.ExtendedErrorCode*
	Text string // EXTRA-TEXT: short, names the zone or limit
	Err  error  // underlying cause, for logs and errors.Is
}

func (e *Error) Error() string {
	s := fmt.Sprintf("dnssec: %s (EDE %d)", e.Text, e.Code)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// EDE returns the Extended DNS Error carried by err, if any.
func EDE(err error) (code uint16, text string, ok bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Code, e.Text, true
	}
	return 0, "", false
}

func bogus(code uint16, format string, args ...any) (Result, error) {
	return Result{Status: Bogus}, &Error{Code: code, Text: fmt.Sprintf(format, args...)}
}

func insecure(code uint16, format string, args ...any) (Result, error) {
	return Result{Status: Insecure}, &Error{Code: code, Text: fmt.Sprintf(format, args...)}
}

func exhausted(what string) (Result, error) {
	return Result{Status: Bogus}, &Error{
		Code: dns.ExtendedErrorCodeOther,
		Text: "validation budget exhausted: " + what,
		Err:  ErrBudgetExhausted,
	}
}
