package gobgppatch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"unicode"
)

const (
	// Module and Version are the upstream that third_party/gobgp copies.
	Module  = "github.com/osrg/gobgp/v3"
	Version = "v3.37.0"
	// versionSum is Version's go.sum hash: a download is checked against
	// it instead of asking the checksum database.
	versionSum    = "h1:+ObuOdvj7G7nxrT0fKFta+EAupdWf/q1WzbXydr8IOY="
	versionModSum = "h1:kVHVFy1/fyZHJ8P32+ctvPeJogn9qKwa1YCeMRXXrP0="
)

// escapePath escapes a module path for the module cache (upper case
// letters become "!" and the lower case letter).
func escapePath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if unicode.IsUpper(r) {
			b.WriteByte('!')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// goCmd is a go command with the environment a module-mode download
// needs, whatever the caller's GOFLAGS and go.work say.
func goCmd(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	return cmd
}

// FindUpstream returns the directory of the pristine module@version in the
// module cache, downloading it there when it is missing. logf, if not nil,
// is told about a download.
func FindUpstream(version string, logf func(string, ...any)) (string, error) {
	out, err := goCmd("", "env", "GOMODCACHE").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMODCACHE: %v (is Go on PATH?)", err)
	}
	cache := strings.TrimSpace(string(out))
	dir := filepath.Join(cache, filepath.FromSlash(escapePath(Module)+"@"+version))
	if cache != "" {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
	}
	if logf != nil {
		logf("downloading %s@%s into the module cache", Module, version)
	}
	tmp, err := os.MkdirTemp("", "gobgppatch")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := os.WriteFile(filepath.Join(tmp, "go.mod"), []byte("module x\n"), 0o644); err != nil {
		return "", err
	}
	if version == Version {
		sum := fmt.Sprintf("%s %s %s\n%s %s/go.mod %s\n", Module, version, versionSum, Module, version, versionModSum)
		if err := os.WriteFile(filepath.Join(tmp, "go.sum"), []byte(sum), 0o644); err != nil {
			return "", err
		}
	}
	cmd := goCmd(tmp, "mod", "download", "-json", Module+"@"+version)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &info); jerr == nil && info.Error != "" {
		return "", fmt.Errorf("go mod download %s@%s: %s", Module, version, info.Error)
	}
	if err != nil {
		return "", fmt.Errorf("go mod download %s@%s: %v: %s", Module, version, err, strings.TrimSpace(stderr.String()))
	}
	if info.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s printed no Dir", Module, version)
	}
	return info.Dir, nil
}
