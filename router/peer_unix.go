//go:build linux || darwin

package router

import (
	"net"
	"syscall"
)

// peerClosed reports whether the peer of c has closed the connection (or
// reset it): a non-blocking peek at the socket that returns end of file or
// an error other than "nothing to read yet". It reads nothing, so it can
// run beside the server's own reads, and it takes no read lock (Control,
// not Read), so it does not wait for a read in progress on another
// goroutine (net/http's background read). A connection that is not a
// socket, or was closed on our side, is not known to be gone: false.
func peerClosed(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	gone := false
	var b [1]byte
	cerr := rc.Control(func(fd uintptr) {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == nil:
			gone = n == 0 // end of file; n > 0: a pipelined next request
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK || err == syscall.EINTR:
		default:
			gone = true // ECONNRESET and the like
		}
	})
	return cerr == nil && gone
}
