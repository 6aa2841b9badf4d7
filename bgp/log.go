package bgp

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"unicode"

	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
)

// logAdapter routes GoBGP's logger into our slog.Logger, renaming GoBGP's
// field names ("Key", "Err", "Error", "Topic") to our fixed snake_case keys
// (peer, err, topic) so that its lines read like ours.
type logAdapter struct {
	log *slog.Logger
}

var _ gobgplog.Logger = logAdapter{}

func newLogAdapter(l *slog.Logger) logAdapter {
	return logAdapter{log: l.With("component", "gobgp")}
}

// Panic keeps GoBGP's contract: it is only called on internal logic bugs,
// after which the caller must not continue.
func (a logAdapter) Panic(msg string, fields gobgplog.Fields) {
	a.emit(slog.LevelError, msg, fields)
	panic(fmt.Sprintf("gobgp: %s", msg))
}

// Fatal would make logrus call os.Exit; a library must not, so this panics
// instead. GoBGP calls it only for states it cannot continue from.
func (a logAdapter) Fatal(msg string, fields gobgplog.Fields) {
	a.emit(slog.LevelError, msg, fields)
	panic(fmt.Sprintf("gobgp fatal: %s", msg))
}

func (a logAdapter) Error(msg string, fields gobgplog.Fields) {
	a.emit(slog.LevelError, msg, fields)
}

func (a logAdapter) Warn(msg string, fields gobgplog.Fields) {
	a.emit(slog.LevelWarn, msg, fields)
}

func (a logAdapter) Info(msg string, fields gobgplog.Fields) {
	a.emit(slog.LevelInfo, msg, fields)
}

func (a logAdapter) Debug(msg string, fields gobgplog.Fields) {
	a.emit(slog.LevelDebug, msg, fields)
}

// SetLevel is ignored: the level belongs to the slog handler's owner.
func (a logAdapter) SetLevel(gobgplog.LogLevel) {}

// GetLevel reports the handler's level, so GoBGP skips building debug
// messages (some format whole paths) that would be dropped anyway.
func (a logAdapter) GetLevel() gobgplog.LogLevel {
	ctx := context.Background()
	switch {
	case a.log.Enabled(ctx, slog.LevelDebug):
		return gobgplog.DebugLevel
	case a.log.Enabled(ctx, slog.LevelInfo):
		return gobgplog.InfoLevel
	case a.log.Enabled(ctx, slog.LevelWarn):
		return gobgplog.WarnLevel
	default:
		return gobgplog.ErrorLevel
	}
}

func (a logAdapter) emit(level slog.Level, msg string, fields gobgplog.Fields) {
	ctx := context.Background()
	if !a.log.Enabled(ctx, level) {
		return
	}
	a.log.LogAttrs(ctx, level, msg, fieldAttrs(fields)...)
}

// fieldAttrs converts GoBGP fields into attributes in a stable order.
func fieldAttrs(fields gobgplog.Fields) []slog.Attr {
	names := make([]string, 0, len(fields))
	for k := range fields {
		if k == gobgplog.FieldFacility {
			continue
		}
		names = append(names, k)
	}
	sort.Strings(names)
	topic, _ := fields["Topic"].(string)
	attrs := make([]slog.Attr, 0, len(names))
	for _, k := range names {
		attrs = append(attrs, slog.Any(fieldKey(k, topic), fields[k]))
	}
	return attrs
}

// fieldKey maps a GoBGP field name to ours. GoBGP puts the neighbour
// address in "Key" for peer-related topics.
func fieldKey(k, topic string) string {
	switch k {
	case "Err", "Error", "error":
		return "err"
	case "Key":
		if topic == "Peer" || topic == "Neighbor" {
			return "peer"
		}
		return "key"
	}
	return snake(k)
}

// snake turns "AdminState" into "admin_state" and "VRF" into "vrf".
func snake(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		if unicode.IsUpper(r) {
			if i > 0 && (unicode.IsLower(rs[i-1]) || (i+1 < len(rs) && unicode.IsLower(rs[i+1]) && unicode.IsUpper(rs[i-1]))) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
