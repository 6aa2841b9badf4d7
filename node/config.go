package node

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	"go.yaml.in/yaml/v3"
)

// Config is the node's configuration: one YAML file, `version: 1`, decoded
// strictly (unknown keys are errors). docs/config.md documents every key;
// node/testdata/config/example.yaml is a commented example.
type Config struct {
	Version  int            `json:"version"`
	Node     NodeConfig     `json:"node"`
	Service  ServiceConfig  `json:"service"`
	Resolver ResolverConfig `json:"resolver"`
	BGP      BGPConfig      `json:"bgp"`
	Health   HealthConfig   `json:"health"`
	Metrics  MetricsConfig  `json:"metrics"`
	Drain    DrainConfig    `json:"drain"`
	Log      LogConfig      `json:"log"`
	Privacy  PrivacyConfig  `json:"privacy"` // config_privacy.go
	TLS      TLSConfig      `json:"tls"`     // config_tls.go
}

// NodeConfig identifies the node and where it keeps its files.
type NodeConfig struct {
	Name          string `json:"name"`           // also the NSID payload
	StateDir      string `json:"state_dir"`      // persisted drain intent
	ControlSocket string `json:"control_socket"` // anycastctl's unix socket
	// PProf serves Go's profiler on the control socket. Off by default:
	// goroutine dumps print function arguments, which can hold a client's
	// address while its query is in flight (docs/privacy.md).
	PProf bool `json:"pprof"`
}

// ServiceConfig is what the node serves and announces.
type ServiceConfig struct {
	Interface string       `json:"interface"` // where the addresses are put
	Addresses []netip.Addr `json:"addresses"` // announced as /32 and /128
	Port      uint16       `json:"port"`
}

// ResolverConfig tunes the recursive resolver.
type ResolverConfig struct {
	RootHints       string        `json:"root_hints"`   // "" means the built-in real roots
	TrustAnchor     string        `json:"trust_anchor"` // "" means the built-in root KSK
	CacheSize       int64         `json:"cache_size"`   // bytes
	UpstreamTimeout time.Duration `json:"upstream_timeout"`
	UpstreamPort    uint16        `json:"upstream_port"`
	ResolveTimeout  time.Duration `json:"resolve_timeout"` // one client question, all upstream work

	// Cache (config_resolver.go has the defaults and validation).
	MinTTL           time.Duration `json:"min_ttl"`
	MaxTTL           time.Duration `json:"max_ttl"`
	MaxNegativeTTL   time.Duration `json:"max_negative_ttl"`
	ServeStale       time.Duration `json:"serve_stale"`        // 0 disables serve-stale
	StaleAnswerAfter time.Duration `json:"stale_answer_after"` // 0: stale only when resolution fails

	// Protocol edges.
	TCPIdleTimeout    time.Duration  `json:"tcp_idle_timeout"`
	MaxTCPConnections int            `json:"max_tcp_connections"`
	Allow             []netip.Prefix `json:"allow"`         // empty: everyone
	CookieSecret      string         `json:"cookie_secret"` // 32 hex digits shared by the fleet; "" random per process

	// Resolution behaviour and limits.
	QNAMEMinimisation        bool `json:"qname_minimisation"`
	CaseRandomisation        bool `json:"case_randomisation"` // 0x20
	MaxReferrals             int  `json:"max_referrals"`
	MaxCNAMEChain            int  `json:"max_cname_chain"`
	MaxGluelessPerDelegation int  `json:"max_glueless_per_delegation"`
	MaxUpstreamQueries       int  `json:"max_upstream_queries"`

	// DNSSEC (config_dnssec.go).
	DNSSEC          bool     `json:"dnssec"`           // validate; default true
	InsecureDomains []string `json:"insecure_domains"` // negative trust anchors (RFC 7646)
}

// BGPConfig is the embedded speaker and its peers.
type BGPConfig struct {
	ASN        uint32       `json:"asn"`
	RouterID   netip.Addr   `json:"router_id"`
	ListenPort int32        `json:"listen_port"` // -1: do not accept incoming sessions
	Peers      []PeerConfig `json:"peers"`
	// Fleet safety (config_fleet.go).
	Guard      bool             `json:"guard"`
	Attributes AttributesConfig `json:"attributes"`
	Damping    DampingConfig    `json:"damping"`
	RiseJitter time.Duration    `json:"rise_jitter"`
	APIListen  string           `json:"api_listen"` // GoBGP gRPC API, loopback only; "" off
	Faults     FaultsConfig     `json:"faults"`     // what a router's bad input may cost (docs/bgp.md)
}

// FaultsConfig is the policy for a peer whose input keeps resetting its
// session: after Limit faults within Window it is disabled for HoldDown.
type FaultsConfig struct {
	Limit    int           `json:"limit"` // 0: never disable
	Window   time.Duration `json:"window"`
	HoldDown time.Duration `json:"hold_down"`
}

// PeerConfig is one BGP neighbour.
type PeerConfig struct {
	Address      netip.Addr    `json:"address"`
	ASN          uint32        `json:"asn"`
	LocalAddress netip.Addr    `json:"local_address"` // zero: chosen by the kernel
	Port         uint16        `json:"port"`
	Password     string        `json:"password"` // TCP MD5; "" for none
	HoldTime     time.Duration `json:"hold_time"`
	Keepalive    time.Duration `json:"keepalive"`
	Multihop     uint8         `json:"multihop"`     // 0: directly connected
	TTLSecurity  bool          `json:"ttl_security"` // GTSM, RFC 5082
}

// HealthConfig drives the node's health checks.
type HealthConfig struct {
	Interval   time.Duration   `json:"interval"`
	Timeout    time.Duration   `json:"timeout"`
	Rise       int             `json:"rise"`
	Fall       int             `json:"fall"`
	CanaryName string          `json:"canary_name"` // FQDN
	CanaryType string          `json:"canary_type"` // upper-case mnemonic, a key of dns.StringToType
	Degrading  DegradingConfig `json:"degrading"`
}

// MetricsConfig is the Prometheus endpoint.
type MetricsConfig struct {
	Listen string `json:"listen"` // host:port; "" disables
}

// DrainConfig times a drain.
type DrainConfig struct {
	LameDuck  time.Duration `json:"lame_duck"`  // listeners keep serving this long after withdrawal
	Timeout   time.Duration `json:"timeout"`    // withdraw at the latest after this long
	MinQPS    float64       `json:"min_qps"`    // withdraw once client queries fall to this rate
	IdleAfter time.Duration `json:"idle_after"` // this long at or below min_qps counts as quiet
}

// LogConfig selects the daemon's log output.
type LogConfig struct {
	Level  string `json:"level"`  // debug, info, warn, error
	Format string `json:"format"` // text, json
}

// Defaults of the keys that have one; see docs/config.md.
const (
	DefaultStateDir      = "/var/lib/anycastd"
	DefaultControlSocket = "/run/anycastd/control.sock"
	DefaultMetricsListen = "127.0.0.1:9253"
	DefaultCacheSize     = 64 << 20
)

func defaultConfig() Config {
	return Config{
		Node:     NodeConfig{StateDir: DefaultStateDir, ControlSocket: DefaultControlSocket},
		Service:  ServiceConfig{Interface: "lo", Port: 53},
		Resolver: defaultResolver(),
		BGP:      defaultBGP(),
		Health: HealthConfig{Interval: time.Second, Timeout: time.Second, Rise: 3, Fall: 2, CanaryName: ".", CanaryType: "NS",
			Degrading: defaultDegrading()},
		Metrics: MetricsConfig{Listen: DefaultMetricsListen},
		Drain:   DrainConfig{LameDuck: 5 * time.Second, Timeout: 30 * time.Second, MinQPS: 5, IdleAfter: time.Second},
		Log:     LogConfig{Level: "info", Format: "text"},
		Privacy: defaultPrivacy(),
		TLS:     defaultTLS(),
	}
}

func defaultPeer() PeerConfig {
	// Keepalive has no fixed default: it follows hold_time (see decodePeer).
	return PeerConfig{Port: 179, HoldTime: 9 * time.Second}
}

// FieldError is one problem with one key of a config file.
type FieldError struct {
	Path string // e.g. "bgp.peers[0].asn"
	Line int    // line in the file; 0 when unknown
	Msg  string // a sentence saying what is wrong and how to fix it
}

func (e *FieldError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s: %s", e.Line, e.Path, e.Msg)
	}
	return e.Path + ": " + e.Msg
}

// Load reads and parses the config file at path. Relative paths in the file
// (resolver.root_hints, resolver.trust_anchor) are taken relative to the
// file's directory and made absolute. Every error is prefixed "config PATH: ".
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c, err := parse(data, dir)
	if err != nil {
		var errs []error
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			errs = j.Unwrap()
		} else {
			errs = []error{err}
		}
		for i, e := range errs {
			errs[i] = fmt.Errorf("config %s: %w", path, e)
		}
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// Parse decodes a config strictly, applies defaults and validates it. All
// problems are reported at once, joined; each is a *FieldError unless the
// YAML itself is malformed. Relative file paths are taken relative to the
// working directory.
func Parse(data []byte) (*Config, error) { return parse(data, "") }

func parse(data []byte, baseDir string) (*Config, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &FieldError{Path: "version", Msg: "the file is empty; start it with `version: 1`"}
		}
		return nil, fmt.Errorf("parse YAML: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("parse YAML: the file holds more than one document (a second `---`); keep one")
	}

	d := &decoder{lines: map[string]int{}, bad: map[string]bool{}}
	c := defaultConfig()
	d.config(&root, &c)
	for _, p := range []*string{&c.Resolver.RootHints, &c.Resolver.TrustAnchor} {
		if *p != "" && !filepath.IsAbs(*p) && baseDir != "" {
			*p = filepath.Join(baseDir, *p)
		}
	}

	errs := d.errs
	for _, fe := range c.problems() {
		if d.isBad(fe.Path) {
			continue // already reported as a decoding error
		}
		fe.Line = d.lineOf(fe.Path)
		errs = append(errs, fe)
	}
	if len(errs) == 0 {
		return &c, nil
	}
	slices.SortStableFunc(errs, func(a, b *FieldError) int {
		// Problems with a line first, in file order, then the rest.
		switch {
		case a.Line == b.Line:
			return 0
		case a.Line == 0:
			return 1
		case b.Line == 0:
			return -1
		}
		return a.Line - b.Line
	})
	joined := make([]error, len(errs))
	for i, e := range errs {
		joined[i] = e
	}
	return nil, errors.Join(joined...)
}

// Redacted returns a deep copy of c with every password replaced by
// "<redacted>", for status output.
func (c *Config) Redacted() *Config {
	r := *c
	r.Service.Addresses = slices.Clone(c.Service.Addresses)
	r.BGP.Peers = slices.Clone(c.BGP.Peers)
	r.Resolver.Allow = slices.Clone(c.Resolver.Allow)
	if r.Resolver.CookieSecret != "" {
		r.Resolver.CookieSecret = "<redacted>"
	}
	for i := range r.BGP.Peers {
		if r.BGP.Peers[i].Password != "" {
			r.BGP.Peers[i].Password = "<redacted>"
		}
	}
	return &r
}

// Validate checks a config that already has its defaults, as Parse does;
// it is for configs built in code (tests, labs).
func (c *Config) Validate() error {
	var errs []error
	for _, fe := range c.problems() {
		errs = append(errs, fe)
	}
	return errors.Join(errs...)
}

// decoder walks a yaml.Node tree against the schema, so that it can name
// the path and line of every unknown key and type error, and keep going.
func (d *decoder) config(root *yaml.Node, c *Config) {
	timeoutSet := false
	defer func() {
		// So that a shorter interval alone is valid: timeout <= interval.
		if !timeoutSet {
			c.Health.Timeout = min(c.Health.Timeout, c.Health.Interval)
		}
	}()
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	d.mapping(n, "", fields{
		{"version", intField(d, &c.Version, math.MinInt32, math.MaxInt32)},
		{"node", func(n *yaml.Node, p string) {
			d.mapping(n, p, fields{
				{"name", d.str(&c.Node.Name)},
				{"state_dir", d.str(&c.Node.StateDir)},
				{"control_socket", d.str(&c.Node.ControlSocket)},
				{"pprof", d.boolean(&c.Node.PProf)},
			})
		}},
		{"service", func(n *yaml.Node, p string) {
			d.mapping(n, p, fields{
				{"interface", d.str(&c.Service.Interface)},
				{"addresses", func(n *yaml.Node, p string) {
					d.list(n, p, func(n *yaml.Node, p string) {
						var a netip.Addr
						d.addr(&a)(n, p)
						c.Service.Addresses = append(c.Service.Addresses, a)
					})
				}},
				{"port", intField(d, &c.Service.Port, 1, math.MaxUint16)},
			})
		}},
		{"resolver", func(n *yaml.Node, p string) {
			d.mapping(n, p, append(d.resolverFields(&c.Resolver), d.dnssecFields(&c.Resolver)...))
		}},
		{"bgp", func(n *yaml.Node, p string) {
			d.mapping(n, p, fields{
				{"asn", intField(d, &c.BGP.ASN, 1, math.MaxUint32)},
				{"router_id", d.addr(&c.BGP.RouterID)},
				{"listen_port", intField(d, &c.BGP.ListenPort, -1, math.MaxUint16)},
				{"peers", func(n *yaml.Node, p string) {
					d.list(n, p, func(n *yaml.Node, p string) {
						c.BGP.Peers = append(c.BGP.Peers, d.peer(n, p))
					})
				}},
				{"guard", d.boolean(&c.BGP.Guard)},
				{"attributes", d.attributes(&c.BGP.Attributes)},
				{"damping", d.damping(&c.BGP.Damping)},
				{"rise_jitter", d.duration(&c.BGP.RiseJitter)},
				{"api_listen", d.str(&c.BGP.APIListen)},
				{"faults", func(n *yaml.Node, p string) {
					d.mapping(n, p, fields{
						{"limit", intField(d, &c.BGP.Faults.Limit, 0, 1000)},
						{"window", d.duration(&c.BGP.Faults.Window)},
						{"hold_down", d.duration(&c.BGP.Faults.HoldDown)},
					})
				}},
			})
		}},
		{"health", func(n *yaml.Node, p string) {
			d.mapping(n, p, fields{
				{"interval", d.duration(&c.Health.Interval)},
				{"timeout", func(n *yaml.Node, p string) {
					timeoutSet = true
					d.duration(&c.Health.Timeout)(n, p)
				}},
				// Below 1 is left to validation, which says "at least 1".
				{"rise", intField(d, &c.Health.Rise, math.MinInt32, math.MaxInt32)},
				{"fall", intField(d, &c.Health.Fall, math.MinInt32, math.MaxInt32)},
				{"canary_name", d.str(&c.Health.CanaryName)},
				{"canary_type", func(n *yaml.Node, p string) {
					d.str(&c.Health.CanaryType)(n, p)
					c.Health.CanaryType = strings.ToUpper(c.Health.CanaryType)
				}},
				{"degrading", d.degrading(&c.Health.Degrading)},
			})
		}},
		{"metrics", func(n *yaml.Node, p string) {
			d.mapping(n, p, fields{{"listen", d.str(&c.Metrics.Listen)}})
		}},
		{"drain", func(n *yaml.Node, p string) {
			d.mapping(n, p, fields{
				{"lame_duck", d.duration(&c.Drain.LameDuck)},
				{"timeout", d.duration(&c.Drain.Timeout)},
				{"min_qps", d.float(&c.Drain.MinQPS)},
				{"idle_after", d.duration(&c.Drain.IdleAfter)},
			})
		}},
		{"log", func(n *yaml.Node, p string) {
			d.mapping(n, p, fields{
				{"level", d.str(&c.Log.Level)},
				{"format", d.str(&c.Log.Format)},
			})
		}},
		{"privacy", d.privacy(&c.Privacy)},
		{"tls", d.tls(&c.TLS)},
	})
}

func (d *decoder) peer(n *yaml.Node, path string) PeerConfig {
	pc := defaultPeer()
	keepaliveSet := false
	d.mapping(n, path, fields{
		{"address", d.addr(&pc.Address)},
		{"asn", intField(d, &pc.ASN, 1, math.MaxUint32)},
		{"local_address", d.addr(&pc.LocalAddress)},
		{"port", intField(d, &pc.Port, 1, math.MaxUint16)},
		{"password", d.str(&pc.Password)},
		{"hold_time", d.duration(&pc.HoldTime)},
		{"keepalive", func(n *yaml.Node, p string) {
			keepaliveSet = true
			d.duration(&pc.Keepalive)(n, p)
		}},
		{"multihop", intField(d, &pc.Multihop, 0, math.MaxUint8)},
		{"ttl_security", d.boolean(&pc.TTLSecurity)},
	})
	if !keepaliveSet {
		// A third of the hold time, as RFC 4271 suggests: 3s with the
		// default 9s, and no keepalives when hold_time is 0.
		pc.Keepalive = (pc.HoldTime / 3).Truncate(time.Second)
		if pc.HoldTime > 0 && pc.Keepalive < time.Second {
			pc.Keepalive = time.Second
		}
	}
	return pc
}

// problems validates c, whose defaults are already applied.
func (c *Config) problems() []*FieldError {
	var ps []*FieldError
	add := func(path, format string, args ...any) {
		ps = append(ps, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}

	switch c.Version {
	case 1:
	case 0:
		add("version", "is missing (or 0); add `version: 1` as the first line")
	default:
		add("version", "must be 1, got %d; this anycastd reads version 1 files only", c.Version)
	}

	if c.Node.Name == "" {
		add("node.name", "is required: the node's name, also sent as its NSID (e.g. fra1-a)")
	} else if !validHostname(c.Node.Name) {
		add("node.name", "must be a DNS name of letters, digits and hyphens (labels of 1..63 characters, separated by dots), got %q", c.Node.Name)
	}
	absPath(add, "node.state_dir", c.Node.StateDir)
	absPath(add, "node.control_socket", c.Node.ControlSocket)
	if len(c.Node.ControlSocket) > 107 {
		add("node.control_socket", "is %d bytes long; a unix socket path must be at most 107", len(c.Node.ControlSocket))
	}

	if c.Service.Interface == "" || len(c.Service.Interface) > 15 || strings.ContainsAny(c.Service.Interface, "/: \t") {
		add("service.interface", "must be an interface name of 1..15 characters without '/', ':' or spaces, got %q", c.Service.Interface)
	}
	if len(c.Service.Addresses) == 0 {
		add("service.addresses", "needs at least one address to serve and announce, e.g. [192.0.2.53, 2001:db8:53::53]")
	}
	for i, a := range c.Service.Addresses {
		p := fmt.Sprintf("service.addresses[%d]", i)
		if msg := unicastProblem(a); msg != "" {
			add(p, "%s", msg)
			continue
		}
		if j := slices.Index(c.Service.Addresses[:i], a); j >= 0 {
			add(p, "%s is listed twice (also service.addresses[%d]); remove one", a, j)
		}
	}
	port(add, "service.port", int64(c.Service.Port))

	c.Resolver.problems(add)

	asn(add, "bgp.asn", c.BGP.ASN)
	if !c.BGP.RouterID.IsValid() {
		add("bgp.router_id", "is required: an IPv4 address unique among the speakers, usually the node's own")
	} else if !c.BGP.RouterID.Is4() || c.BGP.RouterID.IsUnspecified() {
		add("bgp.router_id", "must be a non-zero IPv4 address (the BGP identifier is 32 bits, even on IPv6-only nodes), got %s", c.BGP.RouterID)
	}
	if lp := c.BGP.ListenPort; lp != -1 && (lp < 1 || lp > math.MaxUint16) {
		add("bgp.listen_port", "must be -1 (do not accept incoming sessions) or 1..65535, got %d", lp)
	}
	if len(c.BGP.Peers) == 0 {
		add("bgp.peers", "needs at least one peer to announce to")
	}
	for i, pc := range c.BGP.Peers {
		ps = append(ps, pc.problems(fmt.Sprintf("bgp.peers[%d]", i), c.BGP.Peers[:i])...)
	}

	between(add, "health.interval", c.Health.Interval, 10*time.Millisecond, time.Hour)
	if c.Health.Timeout <= 0 || c.Health.Timeout > c.Health.Interval {
		add("health.timeout", "must be positive and at most health.interval (%s), got %s", c.Health.Interval, c.Health.Timeout)
	}
	if c.Health.Rise < 1 {
		add("health.rise", "must be at least 1, got %d", c.Health.Rise)
	}
	if c.Health.Fall < 1 {
		add("health.fall", "must be at least 1, got %d", c.Health.Fall)
	}
	if !dns.IsFqdn(c.Health.CanaryName) {
		add("health.canary_name", "must be a fully qualified name ending in a dot, such as \".\" or \"example.com.\", got %q", c.Health.CanaryName)
	} else if _, ok := dns.IsDomainName(c.Health.CanaryName); !ok {
		add("health.canary_name", "must be a valid domain name, got %q", c.Health.CanaryName)
	}
	if _, ok := dns.StringToType[c.Health.CanaryType]; !ok || c.Health.CanaryType == "" {
		add("health.canary_type", "must be a DNS record type such as NS, SOA, A or AAAA, got %q", c.Health.CanaryType)
	}

	if l := c.Metrics.Listen; l != "" {
		host, p, err := net.SplitHostPort(l)
		pn, perr := strconv.ParseUint(p, 10, 16)
		a, aerr := netip.ParseAddr(host)
		if err != nil || perr != nil || pn == 0 || (host != "" && (aerr != nil || a.Zone() != "")) {
			add("metrics.listen", "must be IP:port such as 127.0.0.1:9253 or [::1]:9253, or \"\" to disable metrics, got %q", l)
		}
	}

	between(add, "drain.lame_duck", c.Drain.LameDuck, 0, 10*time.Minute)
	between(add, "drain.timeout", c.Drain.Timeout, time.Second, time.Hour)
	c.fleetProblems(add)
	c.privacyProblems(add)
	c.tlsProblems(add)
	c.dnssecProblems(add)

	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		add("log.level", "must be one of debug, info, warn, error, got %q", c.Log.Level)
	}
	if !slices.Contains([]string{"text", "json"}, c.Log.Format) {
		add("log.format", "must be text or json, got %q", c.Log.Format)
	}
	return ps
}

func (pc PeerConfig) problems(path string, earlier []PeerConfig) []*FieldError {
	var ps []*FieldError
	add := func(key, format string, args ...any) {
		ps = append(ps, &FieldError{Path: path + "." + key, Msg: fmt.Sprintf(format, args...)})
	}
	a := pc.Address
	switch {
	case !a.IsValid():
		add("address", "is required: the neighbour's IP address")
	case a.IsUnspecified() || a.IsMulticast() || a.Zone() != "" || a.Is4In6():
		add("address", "must be a unicast IP address without a zone, got %s", a)
	default:
		for j, e := range earlier {
			if e.Address == a {
				add("address", "%s is also bgp.peers[%d]; each peer may appear once", a, j)
			}
		}
	}
	asn(add, "asn", pc.ASN)
	if la := pc.LocalAddress; la.IsValid() {
		if a.IsValid() && la.Is4() != a.Is4() {
			add("local_address", "must be of the same address family as address (%s), got %s", a, la)
		} else if la.IsUnspecified() || la.IsMulticast() {
			add("local_address", "must be a unicast address of this node, got %s", la)
		}
	}
	port(add, "port", int64(pc.Port))
	if len(pc.Password) > 80 {
		add("password", "is %d bytes long; TCP MD5 keys are at most 80", len(pc.Password))
	}
	h := pc.HoldTime
	if h != 0 && (h < 3*time.Second || h > 65535*time.Second || h%time.Second != 0) {
		add("hold_time", "must be 0 (no keepalives) or whole seconds from 3s to 65535s, got %s", h)
	}
	k := pc.Keepalive
	switch {
	case h == 0 && k != 0:
		add("keepalive", "must be 0 when hold_time is 0, got %s", k)
	case h != 0 && (k < time.Second || k >= h || k%time.Second != 0):
		add("keepalive", "must be whole seconds, at least 1s and less than hold_time (%s), got %s", h, k)
	}
	return ps
}

type adder = func(path, format string, args ...any)

func asn(add adder, path string, v uint32) {
	if v == 0 {
		add(path, "must be 1..4294967295, got 0")
	}
}

func port(add adder, path string, v int64) {
	if v < 1 || v > math.MaxUint16 {
		add(path, "must be 1..65535, got %d", v)
	}
}

func between(add adder, path string, v, lo, hi time.Duration) {
	if v < lo || v > hi {
		add(path, "must be between %s and %s, got %s", lo, hi, v)
	}
}

func absPath(add adder, path, v string) {
	if !filepath.IsAbs(v) {
		add(path, "must be an absolute path, got %q", v)
	}
}

func existingFile(add adder, path, v string) {
	if v == "" {
		return
	}
	fi, err := os.Stat(v)
	switch {
	case err != nil:
		add(path, "cannot read %q: %v; fix the path or remove the key", v, errors.Unwrap(err))
	case fi.IsDir():
		add(path, "%q is a directory; it must name a file", v)
	}
}

// unicastProblem says why a cannot be a service address, or returns "".
func unicastProblem(a netip.Addr) string {
	switch {
	case !a.IsValid():
		return "must be an IP address"
	case a.Zone() != "":
		return fmt.Sprintf("must not have a zone, got %s", a)
	case a.Is4In6():
		return fmt.Sprintf("must be written as IPv4 (%s), not IPv4-mapped IPv6", a.Unmap())
	case a.IsUnspecified(), a.IsMulticast(), a.IsLinkLocalUnicast(), a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Sprintf("must be a routable unicast address, got %s", a)
	}
	return ""
}

var labelRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

func validHostname(s string) bool {
	if len(s) > 253 {
		return false
	}
	for l := range strings.SplitSeq(s, ".") {
		if !labelRE.MatchString(l) {
			return false
		}
	}
	return true
}
