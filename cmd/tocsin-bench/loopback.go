package main

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// The bench loads the machine it runs on only. checkTarget refuses a --url
// whose host is not a loopback address or localhost; the pieces here hold
// every connection to that, whatever a name resolves to or a redirect
// says: each dialer refuses a remote address that is not a loopback IP,
// and the HTTP clients follow no redirects.

// loopbackOnly is a net.Dialer's Control: it refuses to connect to an
// address that is not a loopback IP. It sees the address after name
// resolution, just before the connect.
func loopbackOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err == nil {
		var ip netip.Addr
		ip, err = netip.ParseAddr(host)
		if err == nil && ip.Unmap().IsLoopback() {
			return nil
		}
	}
	return fmt.Errorf("tocsin-bench connects to loopback addresses only, not %s", address)
}

// loopbackDialer returns a dialer that connects to loopback addresses only,
// giving up on a connect after timeout (none when 0).
func loopbackDialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, Control: loopbackOnly}
}

// loopbackTransport returns an HTTP transport that connects to loopback
// addresses only, through no proxy, and keeps up to idle connections for
// reuse.
func loopbackTransport(idle int) *http.Transport {
	return &http.Transport{
		DialContext:         loopbackDialer(5 * time.Second).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConns:        idle,
		MaxIdleConnsPerHost: idle,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
}

// loopbackClient returns an HTTP client over t that gives up on a request
// after timeout and follows no redirect: a 3xx comes back as the answer,
// which every caller takes for a failure.
func loopbackClient(t *http.Transport, timeout time.Duration) *http.Client {
	return &http.Client{
		Transport:     t,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
