package sources

import "net"

// checkTCP runs a tcp poller's check: it connects to the address within the
// timeout and closes the connection at once. The latency is the time to
// connect, name lookup included.
func checkTCP(rn run, p Poller) CheckResult {
	if _, _, err := net.SplitHostPort(p.Address); err != nil {
		return rn.broken("address is not host:port")
	}
	var d net.Dialer
	conn, err := d.DialContext(rn.ctx, "tcp", p.Address)
	if err != nil {
		return rn.failed(err, "")
	}
	latency := rn.latency()
	_ = conn.Close()
	return CheckResult{Outcome: OutcomeSuccess, Latency: latency}
}
