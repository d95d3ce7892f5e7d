// Package faultproxy is a loopback TCP proxy that injects network faults
// between clients and a server, for tests: it forwards every accepted
// connection to a target address and lets the test break the traffic, per
// connection or for all of them at once:
//
//   - Cut closes both sides (each sees a FIN: a clean close, mid-stream);
//   - Reset closes both sides with an RST (SO_LINGER 0): "connection reset
//     by peer";
//   - Stall stops forwarding in both directions while keeping both sides
//     open: a half-open connection, as after a silent network partition;
//     Stall(false) resumes it with nothing lost;
//   - SetDelay adds latency before every chunk forwarded, in order;
//   - HalfClose sends a FIN to one side only (ToClient: the client reads EOF
//     while its writes still reach the server; ToServer: the reverse);
//   - SetRefuse resets every new connection at once, as a server that is
//     down.
//
// It is bounded and owns everything it starts: at most Options.MaxConns
// connections (more are reset at once), one buffer per direction and
// connection, one accept goroutine and two per connection, all ended by
// Close, which returns once they have. It listens and dials on loopback
// addresses only: it is a test tool, never a relay to elsewhere.
package faultproxy
