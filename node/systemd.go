package node

import (
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// notify sends a sd_notify(3) message; without NOTIFY_SOCKET it does nothing.
func (n *Node) notify(state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		n.log.Debug("sd_notify", "err", err)
	}
}

// watchdogInterval is systemd's WatchdogSec for this process, or 0.
func (n *Node) watchdogInterval() time.Duration {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return 0
	}
	return d
}
