package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
)

// Client talks to a node's control socket.
type Client struct {
	socket string
	hc     *http.Client
}

// NewClient returns a client for the unix socket at path. It connects lazily.
func NewClient(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		DisableKeepAlives: true,
	}
	return &Client{socket: path, hc: &http.Client{Transport: tr}}
}

// Status fetches the node's status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var st Status
	if err := c.do(ctx, http.MethodGet, "/v1/status", &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Drain asks the node to taper its traffic away, withdraw its routes and
// stay out of rotation. Without force the node refuses when it is the last
// announcer of a service prefix (ErrLastAnnouncer).
func (c *Client) Drain(ctx context.Context, force bool) (*Result, error) {
	var r Result
	path := "/v1/drain"
	if force {
		path += "?force=1"
	}
	if err := c.do(ctx, http.MethodPost, path, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Undrain asks the node to return to rotation once healthy.
func (c *Client) Undrain(ctx context.Context) (*Result, error) {
	var r Result
	if err := c.do(ctx, http.MethodPost, "/v1/undrain", &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func (c *Client) do(ctx context.Context, method, path string, out any) error {
	return c.send(ctx, method, path, nil, out)
}

// send is do with in, unless nil, as the JSON request body.
func (c *Client) send(ctx context.Context, method, path string, in, out any) error {
	var reqBody []byte
	if in != nil {
		var err error
		if reqBody, err = json.Marshal(in); err != nil {
			return fmt.Errorf("encode %s request: %w", path, err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://anycastd"+path, bytes.NewReader(reqBody))
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return c.explain(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("read answer from %s: %w", c.socket, err)
	}
	if resp.StatusCode/100 != 2 {
		var e Error
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			if resp.StatusCode == http.StatusConflict {
				return fmt.Errorf("%s (%w)", e.Error, ErrLastAnnouncer)
			}
			return errors.New(e.Error)
		}
		return fmt.Errorf("%s %s: node answered %s", method, path, resp.Status)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("decode answer from %s: %w", c.socket, err)
	}
	return nil
}

// explain turns a dial failure into a sentence an operator can act on.
func (c *Client) explain(err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOENT):
		return fmt.Errorf("control socket %s does not exist: is anycastd running, and is -socket the node.control_socket of its config? (%w)", c.socket, ErrUnreachable)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("control socket %s refused the connection: anycastd is not running (stale socket) (%w)", c.socket, ErrUnreachable)
	case errors.Is(err, syscall.EACCES) || errors.Is(err, os.ErrPermission):
		return fmt.Errorf("control socket %s: permission denied: run anycastctl as root or as the daemon's user (%w)", c.socket, ErrUnreachable)
	}
	return fmt.Errorf("control socket %s: %v (%w)", c.socket, err, ErrUnreachable)
}

// ErrLastAnnouncer marks a drain refused because the node is the last
// announcer of a service prefix; --force overrides.
var ErrLastAnnouncer = errors.New("last announcer")

// ErrUnreachable marks errors where the node could not be reached at all.
var ErrUnreachable = errors.New("node unreachable")
