package resolver

import (
	"context"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestEncryptedCanary(t *testing.T) {
	s := startEncrypted(t, nil)
	for _, proto := range EncryptedProtos {
		t.Run(proto, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := s.e.Canary(ctx, proto, s.addrs[proto][0], "www.example.com", dns.TypeA); err != nil {
				t.Fatalf("canary: %v", err)
			}
			if err := s.e.Canary(ctx, proto, s.addrs[proto][0], "nonexistent.example.com", dns.TypeA); err == nil {
				t.Fatal("canary for an NXDOMAIN name passed")
			}
		})
	}
	// Another node's certificate (the files changed, not yet loaded) is
	// not ours: the canary must say so.
	other := s.pki.dir + "/other"
	s.pki.issue(t, other+".crt", other+".key", time.Hour)
	e2, err := NewEncrypted(s.r, EncryptedConfig{CertFile: other + ".crt", KeyFile: other + ".key", DoT: true}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e2.Canary(context.Background(), "dot", s.addrs["dot"][0], "www.example.com", dns.TypeA); err == nil {
		t.Fatal("canary accepted a certificate other than the loaded one")
	}
}
