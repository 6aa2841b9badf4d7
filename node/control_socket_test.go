package node

import (
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestControlSocketPath: the control socket is 0600; a stale socket is
// replaced; a live one, a file, a directory or a symlink at the path is an
// error and left alone.
func TestControlSocketPath(t *testing.T) {
	listen := func(t *testing.T, path string) (net.Listener, error) {
		cfg := &Config{}
		cfg.Node.ControlSocket = path
		n := &Node{cfg: cfg, log: slog.New(slog.DiscardHandler)}
		return n.listenControl()
	}
	t.Run("mode 0600", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "c.sock")
		l, err := listen(t, path)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		fi, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
			t.Fatalf("socket mode %v, want a socket with 0600", fi.Mode())
		}
	})
	t.Run("stale socket replaced", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "c.sock")
		old, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		old.(*net.UnixListener).SetUnlinkOnClose(false)
		old.Close() // the file stays, nobody answers: a crashed daemon's socket
		l, err := listen(t, path)
		if err != nil {
			t.Fatalf("stale socket not replaced: %v", err)
		}
		l.Close()
	})
	t.Run("live socket", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "c.sock")
		other, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		if _, err := listen(t, path); err == nil || !strings.Contains(err.Error(), "another anycastd") {
			t.Fatalf("err %v, want another anycastd is running", err)
		}
	})
	for _, kind := range []string{"file", "directory", "symlink"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "c.sock")
			target := filepath.Join(dir, "precious")
			if err := os.WriteFile(target, []byte("keep me"), 0o600); err != nil {
				t.Fatal(err)
			}
			switch kind {
			case "file":
				if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
					t.Fatal(err)
				}
			case "directory":
				if err := os.Mkdir(path, 0o700); err != nil {
					t.Fatal(err)
				}
			case "symlink":
				if err := os.Symlink(target, path); err != nil {
					t.Fatal(err)
				}
			}
			_, err := listen(t, path)
			if err == nil || !strings.Contains(err.Error(), "is not a socket") {
				t.Fatalf("err %v, want: the path exists and is not a socket", err)
			}
			if _, err := os.Lstat(path); err != nil {
				t.Fatalf("the %s at the control socket path was removed", kind)
			}
			if b, _ := os.ReadFile(target); string(b) != "keep me" {
				t.Fatalf("symlink target changed")
			}
		})
	}
}
