package resolver

// The certificate behind every encrypted transport (DoT, DoH, DoQ): loaded
// from files, swapped without a restart when the files change or on
// Reload, and never replaced by a certificate that does not load or is not
// valid now. The handshake reads the current one through GetCertificate, so
// a swap takes effect at the next handshake and live connections keep
// theirs.

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// certStore owns the serving certificate.
type certStore struct {
	certFile, keyFile string
	log               *slog.Logger
	now               func() time.Time
	reloadErrors      prometheus.Counter
	expiry            prometheus.Gauge

	cert atomic.Pointer[tls.Certificate] // never nil after newCertStore

	// mu guards what follows; it also serialises reloads.
	mu       sync.Mutex
	seen     fileStamp // the files as last polled
	loaded   fileStamp // the files the current certificate came from
	failed   fileStamp // the files the last failed reload read
	lastErr  error     // the last reload's failure; nil after a success
	reloaded time.Time // when the current certificate was loaded
}

// fileStamp identifies one version of the certificate and key files.
type fileStamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

// newCertStore loads the certificate once; a node must not start its
// encrypted listeners without one.
func newCertStore(certFile, keyFile string, log *slog.Logger, now func() time.Time, reloadErrors prometheus.Counter, expiry prometheus.Gauge) (*certStore, error) {
	s := &certStore{certFile: certFile, keyFile: keyFile, log: log, now: now, reloadErrors: reloadErrors, expiry: expiry}
	st, err := s.stat()
	if err != nil {
		return nil, err
	}
	c, err := s.load()
	if err != nil {
		return nil, err
	}
	s.install(c, st)
	s.seen = st
	return s, nil
}

func (s *certStore) stat() (fileStamp, error) {
	ci, err := os.Stat(s.certFile)
	if err != nil {
		return fileStamp{}, fmt.Errorf("tls certificate: %w", err)
	}
	ki, err := os.Stat(s.keyFile)
	if err != nil {
		return fileStamp{}, fmt.Errorf("tls key: %w", err)
	}
	return fileStamp{certMod: ci.ModTime(), keyMod: ki.ModTime(), certSize: ci.Size(), keySize: ki.Size()}, nil
}

// load reads and checks the pair: it must parse, the key must match, and
// the leaf must be valid now.
func (s *certStore) load() (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
	if err != nil {
		return nil, fmt.Errorf("load tls certificate %s: %w", s.certFile, err)
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, fmt.Errorf("parse tls certificate %s: %w", s.certFile, err)
		}
	}
	now := s.now()
	if now.Before(c.Leaf.NotBefore) {
		return nil, fmt.Errorf("tls certificate %s: not valid before %s", s.certFile, c.Leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	if now.After(c.Leaf.NotAfter) {
		return nil, fmt.Errorf("tls certificate %s: expired at %s", s.certFile, c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return &c, nil
}

func (s *certStore) install(c *tls.Certificate, st fileStamp) {
	s.cert.Store(c)
	s.expiry.Set(float64(c.Leaf.NotAfter.Unix()))
	s.mu.Lock()
	s.loaded, s.lastErr, s.failed, s.reloaded = st, nil, fileStamp{}, s.now()
	s.mu.Unlock()
}

// poll reloads when the files changed and have stayed the same since the
// previous poll: rotation writes the certificate and the key one after the
// other, and a pair caught half-written is not an error worth a page.
func (s *certStore) poll() {
	st, err := s.stat()
	s.mu.Lock()
	// A version that failed once is not retried until the files change.
	settled := err == nil && st == s.seen && st != s.loaded && st != s.failed
	if err == nil {
		s.seen = st
	}
	s.mu.Unlock()
	if err != nil {
		s.fail(err, fileStamp{}) // files gone: keep serving, but say so
		return
	}
	if settled {
		s.reload(st)
	}
}

// Reload loads the files now, whatever their times say (SIGHUP).
func (s *certStore) Reload() error {
	st, err := s.stat()
	if err != nil {
		s.fail(err, fileStamp{})
		return err
	}
	s.mu.Lock()
	s.seen = st
	s.mu.Unlock()
	return s.reload(st)
}

func (s *certStore) reload(st fileStamp) error {
	c, err := s.load()
	if err != nil {
		s.fail(err, st)
		return err
	}
	s.install(c, st)
	s.log.Info("tls certificate reloaded", "not_after", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	return nil
}

// fail records a reload that kept the old certificate. A failure is
// counted and logged once per version of the files, not once per poll.
func (s *certStore) fail(err error, st fileStamp) {
	s.mu.Lock()
	repeat := s.lastErr != nil && s.lastErr.Error() == err.Error() && s.failed == st
	s.lastErr, s.failed = err, st
	s.mu.Unlock()
	if repeat {
		return
	}
	s.reloadErrors.Inc()
	old := s.cert.Load()
	s.log.Error("tls certificate reload failed, keeping the old certificate", "err", err,
		"not_after", old.Leaf.NotAfter.UTC().Format(time.RFC3339))
}

// CertStatus describes the serving certificate.
type CertStatus struct {
	Subject   string    `json:"subject"`
	NotAfter  time.Time `json:"not_after"`
	Reloaded  time.Time `json:"reloaded"`
	LastError string    `json:"last_error,omitempty"` // the last reload that kept the old certificate
}

func (s *certStore) status() CertStatus {
	c := s.cert.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := CertStatus{Subject: c.Leaf.Subject.String(), NotAfter: c.Leaf.NotAfter, Reloaded: s.reloaded}
	if s.lastErr != nil {
		st.LastError = s.lastErr.Error()
	}
	return st
}

// problem returns why the certificate is unhealthy: a reload failed, or it
// expires within the next day or has expired since it was loaded.
func (s *certStore) problem() error {
	c := s.cert.Load()
	s.mu.Lock()
	lastErr := s.lastErr
	s.mu.Unlock()
	if left := c.Leaf.NotAfter.Sub(s.now()); left < 24*time.Hour {
		return fmt.Errorf("tls certificate expires at %s", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if lastErr != nil {
		return fmt.Errorf("tls certificate reload: %w", lastErr)
	}
	return nil
}

// tlsSuites are the TLS 1.2 suites offered: forward secret AEADs only.
// TLS 1.3 suites are not configurable in crypto/tls and are all modern.
var tlsSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// tlsConfig is the server side of one transport: TLS 1.2 or newer, the
// store's current certificate, session tickets on (crypto/tls rotates
// their keys), and handshakes counted. 0-RTT is a QUIC setting and stays
// off there (doq.go).
func (s *certStore) tlsConfig(alpn []string, handshakes prometheus.Counter) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: tlsSuites,
		NextProtos:   alpn,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			if c := s.cert.Load(); c != nil {
				return c, nil
			}
			return nil, errors.New("no certificate")
		},
		// Called once per completed handshake, full or resumed, on every
		// transport (crypto/tls and quic-go alike).
		VerifyConnection: func(tls.ConnectionState) error {
			handshakes.Inc()
			return nil
		},
	}
}
