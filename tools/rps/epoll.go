// The epoll engine (--engine epoll): one OS thread runs the schedule and every connection with its
// own epoll loop on non-blocking sockets, so a request costs no goroutine start, no channel hand-off
// and no netpoller wake-up of another thread. The thread sleeps in epoll_pwait2 (nanosecond
// timeouts) until just before the next intended send, then spins; after a send it spins a short
// while for the answer before it sleeps again, so a request is sent and read on a hot CPU, as ab
// -c 1's back-to-back requests are. Same schedule, histograms, errors and report as the goroutine
// engine; a host name is resolved once, before the run.
package main

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

// spinBefore: how long before an intended send the thread stops sleeping and spins; spinAfter:
// how long after a send (or a connect) it spins for the answer before it sleeps. Flags
// --spin-before-us and --spin-after-us change them.
var (
	spinBefore = 60 * time.Microsecond
	spinAfter  = 400 * time.Microsecond
)

type econn struct {
	fd         int
	addr       string
	connecting bool
	connStart  time.Duration
	r          *req
	first      bool // r is the connection's first request (its time limit covers the connect)
	served     int
	deadline   time.Duration
	buf        []byte
}

type engine struct {
	c        *client
	epfd     int
	conns    map[int]*econn
	idle     []*econn
	sockaddr []syscall.SockaddrInet4
	dnsErr   error
	events   []syscall.EpollEvent
	rbuf     []byte
	hotUntil time.Duration
}

// noPwait2: the kernel has no epoll_pwait2 (Linux < 5.11: it answered ENOSYS once).
var noPwait2 bool

// epollWait: epoll_pwait2 with a nanosecond timeout (negative: block; zero: poll). Kernels
// before 5.11 lack it (a netlab:vm guest on Debian's 5.10 found this: the client panicked); there
// it falls back to epoll_wait, whose timeout is whole milliseconds, rounded up so the wait never
// ends before the next send is due (the client's lag records what that costs).
func epollWait(epfd int, events []syscall.EpollEvent, timeout time.Duration) (int, error) {
	if !noPwait2 {
		var ts *syscall.Timespec
		if timeout >= 0 {
			t := syscall.NsecToTimespec(int64(timeout))
			ts = &t
		}
		const sysEpollPwait2 = 441 // x86_64
		n, _, e := syscall.Syscall6(sysEpollPwait2, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), uintptr(unsafe.Pointer(ts)), 0, 0)
		if e != syscall.ENOSYS {
			if e != 0 {
				return 0, e
			}
			return int(n), nil
		}
		noPwait2 = true
	}
	ms := -1
	if timeout >= 0 {
		ms = int((timeout + time.Millisecond - 1) / time.Millisecond)
	}
	return syscall.EpollWait(epfd, events, ms)
}

func (c *client) runEpoll() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// Timer slack 1 ns: the kernel's default 50 µs would make every sleep end late.
	syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_TIMERSLACK, 1, 0)
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		panic(err)
	}
	defer syscall.Close(epfd)
	e := &engine{c: c, epfd: epfd, conns: map[int]*econn{}, events: make([]syscall.EpollEvent, 256), rbuf: make([]byte, 64*1024)}
	e.resolve()
	interval := float64(time.Second) / float64(c.o.rate)
	intendedOf := func(i int) time.Duration { return c.t0 + time.Duration(math.Round(float64(i)*interval)) }
	hardEnd := c.t0 + time.Duration(c.o.duration)*time.Second + c.o.timeout + 5*time.Second
	dispatched := 0
	nextScan := time.Duration(0)
	for c.settled < c.planned {
		now := c.now()
		if dispatched < c.planned && now >= intendedOf(dispatched) {
			due := min(c.planned, int(float64(now-c.t0)/interval)+1)
			for ; dispatched < due; dispatched++ {
				r := &req{intended: intendedOf(dispatched)}
				c.lag.RecordValue(usOf(now - r.intended))
				c.sent++
				e.handOut(r, now)
			}
			continue
		}
		if now >= hardEnd {
			e.abandon()
			break
		}
		if now >= nextScan {
			e.expire(now)
			nextScan = now + time.Millisecond
		}
		// Sleep until just before the next send or time limit check, unless the CPU should stay hot.
		wake := nextScan
		if dispatched < c.planned {
			wake = min(wake, intendedOf(dispatched)-spinBefore)
		}
		wait := time.Duration(0)
		if now >= e.hotUntil && wake > now {
			wait = wake - now
		}
		n, err := epollWait(epfd, e.events, wait)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			panic(err)
		}
		for i := 0; i < n; i++ {
			ev := e.events[i]
			if k := e.conns[int(ev.Fd)]; k != nil {
				e.ready(k, ev.Events)
			}
		}
	}
	for _, k := range e.conns {
		syscall.Close(k.fd)
	}
	c.finished = true
}

// resolve the URL's host once; a name that does not resolve fails every request as a DNS error.
func (e *engine) resolve() {
	c := e.c
	for _, a := range c.addrs {
		host, port, _ := net.SplitHostPort(a)
		p, _ := strconv.Atoi(port)
		ip, err := netip.ParseAddr(host)
		if err != nil {
			ips, lerr := net.LookupIP(host)
			if lerr != nil {
				e.dnsErr = &net.OpError{Op: "dial", Net: "tcp", Err: lerr}
				return
			}
			for _, x := range ips {
				if v4 := x.To4(); v4 != nil {
					ip = netip.AddrFrom4([4]byte(v4))
					break
				}
			}
		}
		e.sockaddr = append(e.sockaddr, syscall.SockaddrInet4{Port: p, Addr: ip.As4()})
	}
}

// handOut: the request goes to an idle connection, a new one, or the queue.
func (e *engine) handOut(r *req, now time.Duration) {
	c := e.c
	if n := len(e.idle); n > 0 {
		k := e.idle[n-1]
		e.idle = e.idle[:n-1]
		e.send(k, r, false, now)
		return
	}
	if len(e.conns) < c.o.maxConns {
		e.dial(r, now)
		return
	}
	c.queue = append(c.queue, r)
}

func (e *engine) dial(r *req, now time.Duration) {
	c := e.c
	c.connections++
	r.handout = now
	i := 0
	if len(c.addrs) > 1 {
		i = rand.IntN(len(c.addrs))
	}
	addr := c.addrs[i]
	if e.dnsErr != nil {
		kind, cause, text := classify(e.dnsErr, false, true, c.o.timeout)
		c.fail(kind, addr+": "+text, cause)
		c.settle()
		return
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		e.connectFailed(addr, err)
		return
	}
	k := &econn{fd: fd, addr: addr, connecting: true, connStart: now, r: r, first: true, deadline: now + c.o.timeout}
	sa := e.sockaddr[i]
	if err := syscall.Connect(fd, &sa); err != nil && err != syscall.EINPROGRESS {
		syscall.Close(fd)
		e.connectFailed(addr, err)
		return
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLOUT | syscall.EPOLLIN | syscall.EPOLLRDHUP | (1 << 31) /* EPOLLET */, Fd: int32(fd)}
	if err := syscall.EpollCtl(e.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		syscall.Close(fd)
		e.connectFailed(addr, err)
		return
	}
	e.conns[fd] = k
	e.hotUntil = now + spinAfter
}

func (e *engine) connectFailed(addr string, err error) {
	c := e.c
	kind, cause, text := classify(&net.OpError{Op: "dial", Net: "tcp", Err: err}, false, true, c.o.timeout)
	c.fail(kind, addr+": "+text, cause)
	c.settle()
}

// send writes the request line of `r` on an open connection.
func (e *engine) send(k *econn, r *req, first bool, now time.Duration) {
	c := e.c
	k.r, k.first = r, first
	if !first {
		r.handout = now
		k.deadline = now + c.o.timeout
	}
	k.served++
	line := c.reqLine[0]
	if k.served >= c.o.perConn {
		line = c.reqLine[1]
	}
	c.lastSend = max(c.lastSend, now)
	k.buf = k.buf[:0]
	if _, err := syscall.Write(k.fd, line); err != nil {
		e.broken(k, err)
		return
	}
	e.hotUntil = now + spinAfter
}

// ready: the kernel has news for a connection.
func (e *engine) ready(k *econn, events uint32) {
	c := e.c
	now := c.now()
	if k.connecting {
		soerr, _ := syscall.GetsockoptInt(k.fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
		if soerr != 0 {
			e.close(k)
			e.connectFailed(k.addr, syscall.Errno(soerr))
			e.retire()
			return
		}
		if events&syscall.EPOLLOUT == 0 {
			return
		}
		k.connecting = false
		took := now - k.connStart
		c.conn.RecordValue(usOf(took))
		if took >= 900*time.Millisecond {
			c.stalls++
		}
		e.send(k, k.r, true, now)
		return
	}
	if k.r == nil {
		// Idle: the server closed it (or sent something unasked); it serves no more.
		if events&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
			e.removeIdle(k)
			e.close(k)
			e.retire()
		}
		return
	}
	for {
		n, err := syscall.Read(k.fd, e.rbuf)
		if err == syscall.EAGAIN {
			return
		}
		if err != nil {
			e.broken(k, err)
			return
		}
		if n == 0 {
			e.broken(k, errEOF)
			return
		}
		k.buf = append(k.buf, e.rbuf[:n]...)
		if done, status, length, closing, perr := parseResponse(k.buf); perr != nil {
			e.finish(k, 0, 0, false, perr, now)
			return
		} else if done {
			e.finish(k, status, length, closing, nil, now)
			return
		}
	}
}

var errEOF = fmt.Errorf("EOF")

// parseResponse: whether buf holds one whole response, and its status, length and Connection: close.
func parseResponse(buf []byte) (done bool, status int, length int64, closing bool, err error) {
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		return false, 0, 0, false, nil
	}
	head := buf[:end+2]
	nl := bytes.IndexByte(head, '\n')
	line := head[:nl+1]
	status = statusOf(line)
	length = -1
	for _, h := range bytes.Split(head[nl+1:], []byte("\r\n")) {
		headerOf(h, &length, &closing)
	}
	if length < 0 {
		return true, status, 0, closing, errNoLength
	}
	return int64(len(buf)-(end+4)) >= length, status, length, closing, nil
}

// finish: a whole response (or a response that cannot be read) for the connection's request.
func (e *engine) finish(k *econn, status int, length int64, closing bool, perr error, now time.Duration) {
	c := e.c
	r := k.r
	k.r = nil
	if perr != nil {
		c.fail("http", "response without Content-Length", "")
		c.settle()
	} else {
		c.answered(r, status, length, now)
	}
	if perr != nil || closing || k.served >= c.o.perConn || c.finished {
		e.close(k)
		e.retire()
		return
	}
	if len(c.queue) > 0 {
		q := c.queue[0]
		c.queue = c.queue[1:]
		e.send(k, q, false, now)
		return
	}
	e.idle = append(e.idle, k)
}

// broken: a socket error on a connection with a request in flight.
func (e *engine) broken(k *econn, err error) {
	c := e.c
	var kind, cause, text string
	if err == errEOF {
		kind, text = "reset", "connection closed before the response"
	} else {
		kind, cause, text = classify(&net.OpError{Op: "read", Net: "tcp", Err: err}, true, k.first, c.o.timeout)
	}
	c.fail(kind, k.addr+": "+text, cause)
	c.settle()
	k.r = nil
	e.close(k)
	e.retire()
}

// expire: requests past their time limit fail as timeouts, and their connections close.
func (e *engine) expire(now time.Duration) {
	c := e.c
	for _, k := range e.conns {
		if k.r == nil || now < k.deadline {
			continue
		}
		text := fmt.Sprintf("no response within %d ms", c.o.timeout.Milliseconds())
		if k.connecting {
			text = fmt.Sprintf("no connection or response within %d ms", c.o.timeout.Milliseconds())
		}
		c.fail("timeout", k.addr+": "+text, "")
		c.settle()
		k.r = nil
		e.close(k)
		e.retire()
	}
}

// abandon: the run's hard bound passed; what is queued or in flight fails as a timeout.
func (e *engine) abandon() {
	c := e.c
	for range c.queue {
		c.fail("timeout", "still queued at the end of the run", "")
		c.settle()
	}
	c.queue = nil
	for _, k := range e.conns {
		if k.r != nil {
			c.fail("timeout", k.addr+": no response by the end of the run", "")
			c.settle()
		}
	}
}

func (e *engine) close(k *econn) {
	syscall.EpollCtl(e.epfd, syscall.EPOLL_CTL_DEL, k.fd, nil)
	syscall.Close(k.fd)
	delete(e.conns, k.fd)
}

func (e *engine) removeIdle(k *econn) {
	for i, x := range e.idle {
		if x == k {
			e.idle = append(e.idle[:i], e.idle[i+1:]...)
			return
		}
	}
}

// retire: a connection ended; a queued request gets a new one.
func (e *engine) retire() {
	c := e.c
	if len(c.queue) > 0 && !c.finished && len(e.conns) < c.o.maxConns {
		r := c.queue[0]
		c.queue = c.queue[1:]
		e.dial(r, c.now())
	}
}
