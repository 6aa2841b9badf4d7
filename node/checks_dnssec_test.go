package node

import (
	"strings"
	"testing"
)

func TestSignatureTimeVerdict(t *testing.T) {
	for _, tc := range []struct {
		name    string
		d       map[string]float64
		primed  bool
		wantErr string
	}{
		{"not primed", map[string]float64{"7": 100}, false, ""},
		{"quiet", map[string]float64{}, true, ""},
		{"a few expired zones", map[string]float64{"7": 5, "6": 1}, true, ""},
		{"many, but mostly other reasons", map[string]float64{"7": 30, "6": 40, "9": 20}, true, ""},
		{"mostly expired", map[string]float64{"7": 30, "6": 5}, true, "clock"},
		{"mostly not yet valid", map[string]float64{"8": 25}, true, "25 not yet valid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := signatureTimeVerdict(tc.d, tc.primed)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("err = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}
