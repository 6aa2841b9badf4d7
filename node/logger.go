package node

import (
	"io"
	"log/slog"
)

// NewLogger builds the daemon's logger from the log section of the config.
// Nothing the node logs carries a client address; see docs/privacy.md.
func NewLogger(cfg *Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	switch cfg.Log.Level {
	case "debug":
		lvl = slog.LevelDebug
	case "warn":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	default:
		lvl = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler
	if cfg.Log.Format == "json" {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(h).With("node", cfg.Node.Name)
}
