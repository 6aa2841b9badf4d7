package resolver

// Privacy by construction (docs/privacy.md): a client's address is used
// while its query is in flight (allow list, cookie hash, rate limit) and
// then only as a truncated prefix, in memory, for at most Retention. The
// query log, debug samples and dnstap all take their records from observe,
// so there is one place that decides what leaves a query.

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Truncation lengths: a client is never located more precisely than this.
const (
	PrefixBits4 = 24
	PrefixBits6 = 48
)

// Limits of the privacy settings; validation rejects anything beyond them.
const (
	DefaultRetention       = 24 * time.Hour
	MaxRetention           = 25 * time.Hour
	MaxDebugSampleRate     = 0.0005 // 0.05% of queries
	DefaultRateLimitExpire = 2 * time.Minute
	MaxRateLimitExpire     = 10 * time.Minute
	// SweepInterval is how often Run purges expired records and idle
	// rate-limit prefixes; reads purge as well.
	SweepInterval         = time.Second
	defaultQueryLogSize   = 10000
	maxQueryLogSize       = 1 << 20
	debugSampleSize       = 1024
	defaultRateLimitTable = 1 << 16
)

// Privacy configures what the resolver keeps about client queries. The
// zero value keeps nothing: no query log, no dnstap, no sampling, no rate
// limit.
type Privacy struct {
	// Retention bounds how long any record of a query is kept (default
	// 24h, at most MaxRetention).
	Retention time.Duration
	QueryLog  QueryLogConfig
	Dnstap    DnstapConfig
	RateLimit RateLimitConfig
	// DebugSampleRate is the fraction of queries kept as DebugSamples
	// (0 off, at most MaxDebugSampleRate).
	DebugSampleRate float64
}

// QueryLogConfig is the in-memory query log.
type QueryLogConfig struct {
	Enabled bool
	// Size is the number of records kept; the oldest go first (default
	// 10000).
	Size int
	// ClientPrefix adds the client's truncated prefix (/24, /48) to each
	// record.
	ClientPrefix bool
}

// DnstapConfig sends a dnstap CLIENT_RESPONSE message per answered query
// to a file or a unix socket (at most one; both empty is off).
type DnstapConfig struct {
	File   string
	Socket string
	// ClientPrefix sets query_address to the truncated prefix's network
	// address; otherwise it is left out. response_address and both ports
	// are never set.
	ClientPrefix bool
}

// RateLimitConfig is a per-prefix token bucket for UDP answers.
type RateLimitConfig struct {
	// QPS is the answers per second one /24 or /48 gets (0: no limit).
	QPS float64
	// Burst is the bucket's depth (default QPS, at least 1).
	Burst int
	// Slip: every Slip-th query over the limit gets an empty truncated
	// answer (TC=1) so a real client retries over TCP; the others are
	// dropped. 0 drops all, 1 truncates all.
	Slip int
	// Expire forgets a prefix idle this long (default 2m, at most 10m).
	Expire time.Duration
	// MaxEntries bounds the table (default 65536). When it is full, new
	// prefixes are not limited until entries expire: a full table must
	// not turn into a denial of service.
	MaxEntries int
}

// withDefaults checks p and fills in its defaults.
func (p Privacy) withDefaults() (Privacy, error) {
	var errs []error
	switch {
	case p.Retention < 0:
		errs = append(errs, fmt.Errorf("privacy.retention: %v is negative", p.Retention))
	case p.Retention > MaxRetention:
		errs = append(errs, fmt.Errorf("privacy.retention: %v is above the maximum %v", p.Retention, MaxRetention))
	}
	if p.QueryLog.Size < 0 || p.QueryLog.Size > maxQueryLogSize {
		errs = append(errs, fmt.Errorf("privacy.query_log.size: %d is not between 0 and %d", p.QueryLog.Size, maxQueryLogSize))
	}
	if p.Dnstap.File != "" && p.Dnstap.Socket != "" {
		errs = append(errs, errors.New("privacy.dnstap: file and socket are both set, choose one"))
	}
	if !(p.DebugSampleRate >= 0 && p.DebugSampleRate <= MaxDebugSampleRate) {
		errs = append(errs, fmt.Errorf("privacy.debug_sampling.rate: %v is not between 0 and %v", p.DebugSampleRate, MaxDebugSampleRate))
	}
	rl := p.RateLimit
	if !(rl.QPS >= 0) || rl.Burst < 0 || rl.Slip < 0 || rl.MaxEntries < 0 {
		errs = append(errs, errors.New("privacy.rate_limit: qps, burst, slip and max_entries must not be negative"))
	}
	if rl.Expire < 0 || rl.Expire > MaxRateLimitExpire {
		errs = append(errs, fmt.Errorf("privacy.rate_limit.expire: %v is not between 0 and %v", rl.Expire, MaxRateLimitExpire))
	}
	if err := errors.Join(errs...); err != nil {
		return p, err
	}
	setDefault(&p.Retention, DefaultRetention)
	if p.QueryLog.Size == 0 {
		p.QueryLog.Size = defaultQueryLogSize
	}
	setDefault(&p.RateLimit.Expire, DefaultRateLimitExpire)
	if p.RateLimit.Burst == 0 {
		p.RateLimit.Burst = max(1, int(p.RateLimit.QPS))
	}
	if p.RateLimit.MaxEntries == 0 {
		p.RateLimit.MaxEntries = defaultRateLimitTable
	}
	return p, nil
}

// Truncate returns the prefix a client is known by outside its query:
// the /24 of an IPv4 address, the /48 of an IPv6 one; the zero Prefix for
// an invalid address.
func Truncate(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := PrefixBits6
	if a.Is4() {
		bits = PrefixBits4
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return netip.Prefix{}
	}
	return p
}

// privacy holds the resolver's privacy-bound state: the query log, the
// debug samples, the rate limiter and the dnstap output. Each has its own
// lock; the counters are atomic.
type privacy struct {
	cfg  Privacy
	node string
	now  func() time.Time
	log  *slog.Logger

	qlog    *ring[QueryRecord] // nil when the query log is off
	samples *ring[DebugSample] // nil when sampling is off
	limit   *limiter           // nil without a rate limit
	tap     *tap               // nil without dnstap

	ecsStripped atomic.Uint64 // client ECS options removed from queries
	ecsSent     atomic.Uint64 // ECS options found in our upstream queries (must stay 0)
	limited     *prometheus.CounterVec
}

func newPrivacy(cfg Privacy, node string, now func() time.Time, log *slog.Logger, reg prometheus.Registerer) (*privacy, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &privacy{cfg: cfg, node: node, now: now, log: log}
	if cfg.QueryLog.Enabled {
		p.qlog = newRing[QueryRecord](cfg.QueryLog.Size)
	}
	if cfg.DebugSampleRate > 0 {
		p.samples = newRing[DebugSample](debugSampleSize)
	}
	if cfg.RateLimit.QPS > 0 {
		p.limit = newLimiter(cfg.RateLimit)
	}
	if cfg.Dnstap.File != "" || cfg.Dnstap.Socket != "" {
		p.tap = newTap(cfg.Dnstap, node)
	}
	p.limited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "anycastd_rate_limited_total",
		Help: "UDP queries over the per-prefix rate limit, by action (drop, slip).",
	}, []string{"action"})
	ecs := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "anycastd_ecs_stripped_total",
		Help: "EDNS Client Subnet options removed from client queries (never forwarded).",
	}, func() float64 { return float64(p.ecsStripped.Load()) })
	ecsSent := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "anycastd_ecs_sent_total",
		Help: "EDNS Client Subnet options in queries to authorities (must be 0).",
	}, func() float64 { return float64(p.ecsSent.Load()) })
	if reg != nil {
		for _, c := range []prometheus.Collector{p.limited, ecs, ecsSent} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register privacy metrics: %w", err)
			}
		}
	}
	return p, nil
}

// stripECS removes every EDNS Client Subnet option from a client's OPT
// record: we neither use nor forward it, and answer without one (RFC 7871
// section 7.1.3). It also keeps the client's subnet out of dnstap.
func (p *privacy) stripECS(opt *dns.OPT) {
	if opt == nil {
		return
	}
	kept := opt.Option[:0]
	for _, o := range opt.Option {
		if o.Option() == dns.EDNS0SUBNET {
			p.ecsStripped.Add(1)
			continue
		}
		kept = append(kept, o)
	}
	clear(opt.Option[len(kept):])
	opt.Option = kept
}

// outgoing counts ECS options in a query about to go to an authority. We
// never add one; the count is the audit's evidence that none left.
func (p *privacy) outgoing(m *dns.Msg) {
	if p == nil {
		return
	}
	if o := m.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if e.Option() == dns.EDNS0SUBNET {
				p.ecsSent.Add(1)
			}
		}
	}
}

// observation is what respond learns about one query besides its messages.
type observation struct {
	start time.Time
	hit   bool
}

// observe records one answered query in the query log, the debug samples
// and dnstap, each with only what it may keep. client is dropped here.
func (p *privacy) observe(o *observation, req, resp *dns.Msg, client netip.Addr, proto string) {
	if p.qlog == nil && p.samples == nil && p.tap == nil {
		return
	}
	if req == nil || resp == nil {
		return
	}
	now := p.now()
	var qname, qtype string
	if len(req.Question) == 1 {
		qname = req.Question[0].Name
		qtype = qtypeLabel(req.Question[0].Qtype)
	}
	prefix := Truncate(client)
	if p.qlog != nil {
		rec := QueryRecord{
			Time: now, QName: qname, QType: qtype, RCode: rcodeLabel(resp.Rcode), Protocol: proto,
			Node: p.node, DurationMicros: now.Sub(o.start).Microseconds(), CacheHit: o.hit, EDE: edeCodes(resp),
		}
		if p.cfg.QueryLog.ClientPrefix && prefix.IsValid() {
			rec.ClientPrefix = prefix.String()
		}
		p.qlog.add(now, rec)
	}
	if p.samples != nil && rand.Float64() < p.cfg.DebugSampleRate {
		s := DebugSample{Time: now, QName: qname, QType: qtype, RCode: rcodeLabel(resp.Rcode), Protocol: proto,
			DurationMicros: now.Sub(o.start).Microseconds()}
		if prefix.IsValid() {
			s.ClientPrefix = prefix.String()
		}
		p.samples.add(now, s)
	}
	if p.tap != nil {
		p.tap.send(req, resp, prefix, p.cfg.Dnstap.ClientPrefix, proto, o.start, now)
	}
}

func edeCodes(resp *dns.Msg) []uint16 {
	o := resp.IsEdns0()
	if o == nil {
		return nil
	}
	var codes []uint16
	for _, e := range o.Option {
		if ede, ok := e.(*dns.EDNS0_EDE); ok {
			codes = append(codes, ede.InfoCode)
		}
	}
	return codes
}

// sweep purges records older than the retention and forgets idle
// rate-limit prefixes. Run calls it every second.
func (p *privacy) sweep() {
	now := p.now()
	cutoff := now.Add(-p.cfg.Retention)
	if p.qlog != nil {
		p.qlog.purge(cutoff)
	}
	if p.samples != nil {
		p.samples.purge(cutoff)
	}
	if p.limit != nil {
		p.limit.expire(now)
	}
}

// QueryRecord is one query log entry. Its fields are the allowlist
// (QueryLogFields); nothing else about a query is ever logged.
type QueryRecord struct {
	Time           time.Time `json:"time"`
	QName          string    `json:"qname"`
	QType          string    `json:"qtype"`
	RCode          string    `json:"rcode"`
	Protocol       string    `json:"protocol"`
	Node           string    `json:"node"`
	DurationMicros int64     `json:"duration_us"`
	CacheHit       bool      `json:"cache_hit"`
	EDE            []uint16  `json:"ede,omitempty"`
	// ClientPrefix is the client's /24 or /48, only with
	// QueryLogConfig.ClientPrefix.
	ClientPrefix string `json:"client_prefix,omitempty"`
}

// DebugSample is one sampled query, kept for debugging.
type DebugSample struct {
	Time           time.Time `json:"time"`
	QName          string    `json:"qname"`
	QType          string    `json:"qtype"`
	RCode          string    `json:"rcode"`
	Protocol       string    `json:"protocol"`
	DurationMicros int64     `json:"duration_us"`
	ClientPrefix   string    `json:"client_prefix,omitempty"` // /24 or /48
}

// QueryLogFields lists the JSON names of a QueryRecord's fields, for the
// audit to compare with the allowlist.
func QueryLogFields() []string { return jsonFields(reflect.TypeFor[QueryRecord]()) }

// DebugSampleFields is QueryLogFields for DebugSample.
func DebugSampleFields() []string { return jsonFields(reflect.TypeFor[DebugSample]()) }

func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	return out
}

// QueryLog returns the retained query log records, oldest first; nil when
// the query log is off.
func (r *Resolver) QueryLog() []QueryRecord {
	if r.priv.qlog == nil {
		return nil
	}
	return r.priv.qlog.records(r.priv.now().Add(-r.priv.cfg.Retention))
}

// DebugSamples returns the retained debug samples, oldest first.
func (r *Resolver) DebugSamples() []DebugSample {
	if r.priv.samples == nil {
		return nil
	}
	return r.priv.samples.records(r.priv.now().Add(-r.priv.cfg.Retention))
}

// PrivacyReport is the evidence the node's audit checks: the settings in
// force and what the resolver holds now.
type PrivacyReport struct {
	Retention            time.Duration
	PrefixBits4          int
	PrefixBits6          int
	QNAMEMinimisation    bool
	ECSStripped          uint64
	ECSSent              uint64
	QueryLogEnabled      bool
	QueryLogClientPrefix bool
	QueryLogSize         int
	QueryLogRecords      int
	DebugSampleRate      float64
	DebugSamples         int
	// OldestRecord is the age of the oldest retained query log record or
	// debug sample (0 when none).
	OldestRecord time.Duration
	// LongestPrefix4 and LongestPrefix6 are the longest client prefixes
	// found in retained records (0 when none).
	LongestPrefix4, LongestPrefix6 int
	Dnstap                         DnstapReport
	RateLimitQPS                   float64
	RateLimitExpire                time.Duration
	RateLimitEntries               int
	RateLimitMaxEntries            int
}

// PrivacyReport gathers the resolver's privacy evidence.
func (r *Resolver) PrivacyReport() PrivacyReport {
	p := r.priv
	now := p.now()
	rep := PrivacyReport{
		Retention: p.cfg.Retention, PrefixBits4: PrefixBits4, PrefixBits6: PrefixBits6,
		QNAMEMinimisation: !r.cfg.DisableQNAMEMinimisation,
		ECSStripped:       p.ecsStripped.Load(), ECSSent: p.ecsSent.Load(),
		QueryLogEnabled: p.qlog != nil, QueryLogClientPrefix: p.cfg.QueryLog.ClientPrefix, QueryLogSize: p.cfg.QueryLog.Size,
		DebugSampleRate: p.cfg.DebugSampleRate,
		RateLimitQPS:    p.cfg.RateLimit.QPS, RateLimitExpire: p.cfg.RateLimit.Expire, RateLimitMaxEntries: p.cfg.RateLimit.MaxEntries,
	}
	seen := func(t time.Time, prefix string) {
		rep.OldestRecord = max(rep.OldestRecord, now.Sub(t))
		if pf, err := netip.ParsePrefix(prefix); err == nil {
			if pf.Addr().Is4() {
				rep.LongestPrefix4 = max(rep.LongestPrefix4, pf.Bits())
			} else {
				rep.LongestPrefix6 = max(rep.LongestPrefix6, pf.Bits())
			}
		} else if prefix != "" {
			rep.LongestPrefix6 = 128 // not a prefix: count it as a full address
		}
	}
	for _, q := range r.QueryLog() {
		rep.QueryLogRecords++
		seen(q.Time, q.ClientPrefix)
	}
	for _, s := range r.DebugSamples() {
		rep.DebugSamples++
		seen(s.Time, s.ClientPrefix)
	}
	if p.limit != nil {
		rep.RateLimitEntries = p.limit.len()
	}
	rep.Dnstap = p.tap.report()
	return rep
}
