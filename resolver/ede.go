package resolver

import (
	"errors"
	"fmt"

	"github.com/miekg/dns"
)

// Error is a resolution failure that carries the Extended DNS Error (RFC
// 8914) the listener puts on the SERVFAIL it becomes. Every path that gives
// up on a client question returns one (wrapped is fine): limits exhausted,
// all servers unreachable, lame delegations, DNSSEC failures.
type Error struct {
	Code uint16 // dns.ExtendedErrorCode*
	Text string // EXTRA-TEXT: short, names the zone or limit, never a client
	Err  error  // the underlying cause, for logs
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s (EDE %d)", e.Text, e.Code)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// edeOf returns the Extended DNS Error for err: the one it carries, or
// Other (0) when it carries none.
func edeOf(err error) (code uint16, text string) {
	var e *Error
	if errors.As(err, &e) {
		return e.Code, e.Text
	}
	return dns.ExtendedErrorCodeOther, "resolution failed"
}
