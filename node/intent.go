package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// The drain intent is a file in the state directory. Its presence, not its
// content, is the intent, so a half-written file still means "drained":
// failing towards staying out of rotation is the safe side.
const intentFile = "drained"

func intentPath(stateDir string) string { return filepath.Join(stateDir, intentFile) }

func readIntent(stateDir string) (bool, error) {
	_, err := os.Stat(intentPath(stateDir))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("read drain intent: %w", err)
	}
}

func writeIntent(stateDir string, now time.Time) error {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return fmt.Errorf("persist drain intent: create node.state_dir %s: %w", stateDir, err)
	}
	tmp := intentPath(stateDir) + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("persist drain intent: %w", err)
	}
	_, werr := fmt.Fprintf(f, "drained by operator at %s\n", now.UTC().Format(time.RFC3339))
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("persist drain intent: %w", err)
	}
	if err := os.Rename(tmp, intentPath(stateDir)); err != nil {
		return fmt.Errorf("persist drain intent: %w", err)
	}
	return syncDir(stateDir)
}

func clearIntent(stateDir string) error {
	err := os.Remove(intentPath(stateDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("clear drain intent: %w", err)
	}
	return syncDir(stateDir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	defer d.Close()
	return d.Sync()
}
