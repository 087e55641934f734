package codec

import (
	"strings"
	"testing"
)

func TestCallIDFilePart(t *testing.T) {
	long := strings.Repeat("0123456789", 100)
	for _, tt := range []struct {
		name, callID string
		same         bool // used as it is
	}{
		{"a plain Call-ID", "a84b4c76e66710@pc33.example.com", false}, // '@' is rewritten
		{"a file-safe Call-ID", "3848276298220188511-host_1.example", true},
		{"the longest kept", long[:MaxCallIDFilePart], true},
		{"one byte longer", long[:MaxCallIDFilePart+1], false},
		{"1,000 bytes", long, false},
		{"a leading dot", ".hidden", false},
		{"dot-dot", "..", false},
		{"a path", "../../etc/passwd", false},
		{"not UTF-8 and a NUL", "a\xff\x00b", false},
		{"empty", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := CallIDFilePart(tt.callID)
			if tt.same != (got == tt.callID) {
				t.Errorf("CallIDFilePart(%.40q) = %.60q: kept as is %v, want %v", tt.callID, got, got == tt.callID, tt.same)
			}
			checkCallIDFilePart(t, tt.callID, got)
		})
	}
	for callID, want := range map[string]string{"a84b4c76e66710@pc33.example.com": "a84b4c76e66710_pc33.example.com",
		".hidden": "_hidden", "..": "_.", "": "_", "a\xff\x00b": "a__b"} {
		if got := CallIDFilePart(callID); got != want {
			t.Errorf("CallIDFilePart(%q) = %q, want %q", callID, got, want)
		}
	}
	// Long Call-IDs that share their start stay apart.
	for _, pair := range [][2]string{{long + "x", long + "y"}} {
		if CallIDFilePart(pair[0]) == CallIDFilePart(pair[1]) {
			t.Errorf("%.20q and %.20q give the same part %q", pair[0], pair[1], CallIDFilePart(pair[0]))
		}
	}
}

// checkCallIDFilePart fails t unless part is a safe file-name part for callID.
func checkCallIDFilePart(t *testing.T, callID, part string) {
	t.Helper()
	if part == "" || len(part) > MaxCallIDFilePart || part[0] == '.' {
		t.Fatalf("CallIDFilePart(%.40q) = %q: empty, too long or hidden", callID, part)
	}
	for i := range len(part) {
		if !fileSafeByte(part[i]) {
			t.Fatalf("CallIDFilePart(%.40q) = %q: byte %q", callID, part, part[i])
		}
	}
	if again := CallIDFilePart(callID); again != part {
		t.Fatalf("CallIDFilePart(%.40q) not stable: %q then %q", callID, part, again)
	}
}

func FuzzCallIDFilePart(f *testing.F) {
	for _, s := range []string{"", ".", "..", "a@b", strings.Repeat("x", 300), "\xff\x00/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, callID string) {
		checkCallIDFilePart(t, callID, CallIDFilePart(callID))
	})
}
