//go:build !linux

package mininet

import "net"

// listenConfig is plain outside Linux: addresses must exist before Start.
func listenConfig() net.ListenConfig { return net.ListenConfig{} }
