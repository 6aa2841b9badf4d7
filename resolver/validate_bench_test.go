package resolver

import (
	"context"
	"testing"

	"github.com/miekg/dns"
)

// BenchmarkValidatedMiss resolves a signed name with an empty cache each
// time: the whole chain (root, org., example.org. keys and DS) is fetched
// from the mini internet on loopback and validated. Compare with
// BenchmarkUnvalidatedMiss for the cost of validation; verifications/op is
// what each cold answer costs in public-key operations.
func BenchmarkValidatedMiss(b *testing.B) {
	benchMiss(b, true, "www.example.org.")
}

// BenchmarkUnvalidatedMiss is BenchmarkValidatedMiss without validation.
func BenchmarkUnvalidatedMiss(b *testing.B) {
	benchMiss(b, false, "www.example.org.")
}

// BenchmarkValidatedMissWarmKeys resolves a new name each time with the
// zone keys cached: the steady state of a busy resolver, where a miss
// costs one answer verification.
func BenchmarkValidatedMissWarmKeys(b *testing.B) {
	in := startNet(b)
	r, reg := newResolver(b, validatingConfig(b, in))
	ctx := context.Background()
	// *.wild.example.org. answers any name: each one is a new cache miss.
	if _, err := r.Resolve(ctx, question("warm.wild.example.org", dns.TypeA)); err != nil {
		b.Fatal(err)
	}
	before := counterValue(b, reg, "anycastd_dnssec_verifications_total", nil)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		q := question("n"+itoa(i)+".wild.example.org", dns.TypeA)
		m, err := r.Resolve(ctx, q)
		if err != nil || !m.AuthenticatedData {
			b.Fatalf("%s: %v (AD %v)", q.Name, err, m != nil && m.AuthenticatedData)
		}
	}
	b.ReportMetric((counterValue(b, reg, "anycastd_dnssec_verifications_total", nil)-before)/float64(b.N), "verifications/op")
}

func benchMiss(b *testing.B, validate bool, name string) {
	in := startNet(b)
	cfg := netConfig(b, in)
	if validate {
		cfg = validatingConfig(b, in)
	}
	r, reg := newResolver(b, cfg)
	ctx := context.Background()
	q := question(name, dns.TypeA)
	failed := 0
	b.ResetTimer()
	for b.Loop() {
		r.FlushCache("", false)
		m, err := r.Resolve(ctx, q)
		if err != nil {
			failed++ // loopback UDP under a tight loop drops now and then
			continue
		}
		if m.AuthenticatedData != validate {
			b.Fatalf("%s: AD %v, want %v", name, m.AuthenticatedData, validate)
		}
	}
	b.ReportMetric(float64(failed)/float64(b.N), "failures/op")
	b.ReportMetric(counterValue(b, reg, "anycastd_dnssec_verifications_total", nil)/float64(b.N), "verifications/op")
}

func itoa(i int) string {
	const digits = "0123456789"
	if i == 0 {
		return "0"
	}
	var buf [20]byte
	n := len(buf)
	for ; i > 0; i /= 10 {
		n--
		buf[n] = digits[i%10]
	}
	return string(buf[n:])
}
