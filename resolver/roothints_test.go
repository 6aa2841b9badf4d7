package resolver

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestParseRootHints(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    []string
		wantErr string
	}{
		{
			name: "named.root style",
			text: `; comment
.                        3600000      NS    A.ROOT-SERVERS.NET.
A.ROOT-SERVERS.NET.      3600000      A     127.0.53.1
A.ROOT-SERVERS.NET.      3600000      AAAA  ::1
.                        3600000      NS    b.root-servers.net.
b.root-servers.net.      3600000  IN  A     127.0.53.2
`,
			want: []string{"127.0.53.1", "::1", "127.0.53.2"},
		},
		{
			name: "addresses of other names ignored",
			text: ". 3600 NS a.root.\na.root. 3600 A 127.0.53.1\nevil.example. 3600 A 127.0.0.9\n",
			want: []string{"127.0.53.1"},
		},
		{name: "empty", text: "", wantErr: "no NS records"},
		{name: "NS not at the root", text: "com. 3600 NS a.nic.com.\na.nic.com. 3600 A 127.0.53.3\n", wantErr: "no NS records"},
		{name: "no addresses", text: ". 3600 NS a.root.\n", wantErr: "no addresses"},
		{name: "syntax error", text: ". 3600 NS\n", wantErr: "parse root hints"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRootHints(strings.NewReader(tt.text))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, a := range got {
				s = append(s, a.String())
			}
			if !slices.Equal(s, tt.want) {
				t.Errorf("got %v, want %v", s, tt.want)
			}
		})
	}
}

// TestDefaultRootHints parses the built-in hints. It sends nothing.
func TestDefaultRootHints(t *testing.T) {
	got := DefaultRootHints()
	if len(got) != 26 {
		t.Errorf("%d addresses, want 13 IPv4 + 13 IPv6", len(got))
	}
	if !slices.Contains(got, netip.MustParseAddr("198.41.0.4")) {
		t.Error("a.root-servers.net missing")
	}
}

func FuzzParseRootHints(f *testing.F) {
	f.Add(". 3600 NS a.root.\na.root. 3600 A 127.0.53.1\n")
	f.Add(ianaRootHints)
	f.Add("$ORIGIN .\n@ NS x\nx AAAA ::1\n")
	f.Fuzz(func(t *testing.T, text string) {
		addrs, err := ParseRootHints(strings.NewReader(text))
		if err == nil && len(addrs) == 0 {
			t.Error("no error and no addresses")
		}
		for _, a := range addrs {
			if !a.IsValid() {
				t.Errorf("invalid address %v", a)
			}
		}
	})
}
