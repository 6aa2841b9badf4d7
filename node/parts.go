package node

import (
	"fmt"
	"sync"
	"time"
)

// parts runs the node's long-lived components, each in its own goroutine,
// and lets shutdown wait for them one by one in a chosen order. An errgroup
// would stop them all at once; the ordered shutdown needs more control.
type parts struct {
	// failed receives the first error of a part that stops on its own.
	failed chan error

	mu   sync.Mutex // mu guards what follows
	done map[string]chan struct{}
}

func newParts() *parts {
	return &parts{failed: make(chan error, 8), done: map[string]chan struct{}{}}
}

func (p *parts) start(name string, run func() error) {
	ch := make(chan struct{})
	p.mu.Lock()
	p.done[name] = ch
	p.mu.Unlock()
	go func() {
		defer close(ch)
		if err := run(); err != nil {
			select {
			case p.failed <- fmt.Errorf("%s: %w", name, err):
			default:
			}
		}
	}()
}

// wait waits up to d for the named part to return.
func (p *parts) wait(name string, d time.Duration) bool {
	p.mu.Lock()
	ch := p.done[name]
	p.mu.Unlock()
	if ch == nil {
		return true
	}
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}

func (p *parts) waitAll(d time.Duration) {
	deadline := time.Now().Add(d)
	p.mu.Lock()
	names := make([]string, 0, len(p.done))
	for n := range p.done {
		names = append(names, n)
	}
	p.mu.Unlock()
	for _, n := range names {
		p.wait(n, time.Until(deadline))
	}
}
