// netlab-rps: netlab's open-loop HTTP/1.1 load client (the E1 client), compiled so that its own
// added latency stays well under the effects the lab measures. Flags and the one JSON report line
// are those of `netlab rps` (lib/workload/rps.ts holds the report's type and runs this binary).
//
// Requests are scheduled at a fixed rate whatever the server does; each request's latency is
// measured from its intended send time, so a stall delays the clock of every request behind it
// (coordinated omission corrected), and recorded in HDR histograms (3 significant digits, µs).
// Connections carry exactly --requests-per-connection requests (1 = Connection: close on each),
// and their connect times are kept apart, so 1 s SYN-retransmit stalls (E3) are visible.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// timerSlack: the Go runtime waits in epoll with whole milliseconds, so a request can leave up to
// ~1 ms after its slot on an idle client. That lateness is not charged to the request (it is
// reported as lagMs); lateness beyond it (a busy client, a request waiting for a free
// connection) is.
const timerSlack = time.Millisecond

type options struct {
	host       string
	hosts      int
	port       int
	path       string
	rate       int
	duration   int
	perConn    int
	maxConns   int
	timeout    time.Duration
	expectBody int64 // -1: no check
	busyPoll   bool
	engine     string // "goroutines" (a goroutine per connection, Go's netpoller) or "epoll" (epoll.go)
}

type percentiles struct {
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	P9999 float64 `json:"p9999"`
	Max   float64 `json:"max"`
	Count int64   `json:"count"`
}

type errorCounts struct {
	Connect int `json:"connect"`
	Timeout int `json:"timeout"`
	Reset   int `json:"reset"`
	HTTP    int `json:"http"`
	Size    int `json:"size"`
}

type connectCauses struct {
	DNS         int `json:"dns"`
	Refused     int `json:"refused"`
	Unreachable int `json:"unreachable"`
	Other       int `json:"other"`
}

type cpuUse struct {
	UserSeconds   float64 `json:"userSeconds"`
	SystemSeconds float64 `json:"systemSeconds"`
	Cores         float64 `json:"cores"`
	// With --busy-poll: CPU seconds of the poller thread (not in the figures above).
	BusyPollSeconds float64 `json:"busyPollSeconds"`
}

// report: field for field lib/workload/rps.ts's RpsReport, in that order ("tool" first: parseRps looks for it).
type report struct {
	Tool                  string        `json:"tool"`
	Impl                  string        `json:"impl"`
	TargetRate            int           `json:"targetRate"`
	DurationSeconds       int           `json:"durationSeconds"`
	RequestsPerConnection int           `json:"requestsPerConnection"`
	Planned               int           `json:"planned"`
	Sent                  int           `json:"sent"`
	OK                    int           `json:"ok"`
	Errors                errorCounts   `json:"errors"`
	ConnectErrors         connectCauses `json:"connectErrors"`
	FirstError            *string       `json:"firstError"`
	AchievedRate          float64       `json:"achievedRate"`
	KeptUp                bool          `json:"keptUp"`
	Verdict               string        `json:"verdict"`
	Connections           int           `json:"connections"`
	LatencyMs             percentiles   `json:"latencyMs"`
	ServiceMs             percentiles   `json:"serviceMs"`
	ConnectMs             percentiles   `json:"connectMs"`
	ConnectStalls         int           `json:"connectStalls"`
	LagMs                 percentiles   `json:"lagMs"`
	CPU                   cpuUse        `json:"cpu"`
	Histogram             string        `json:"histogram"`
}

type req struct {
	intended time.Duration // since base: when the schedule wants it sent
	handout  time.Duration // when it was given to a connection: connect start, or the write on an open one
}

type conn struct{ next chan *req }

type client struct {
	o       options
	base    time.Time
	t0      time.Duration
	planned int
	reqLine [2][]byte // [keep-alive, last request on the connection]
	addrs   []string  // "ip:port" to dial: one, or with --hosts > 1 the candidates
	readers sync.Pool // *bufio.Reader, reused across connections (no 4 KB garbage per connection)
	dialer  net.Dialer

	mu                    sync.Mutex
	lat, svc, conn, lag   *hdr.Histogram
	errors                errorCounts
	causes                connectCauses
	firstError            *string
	sent, ok, connections int
	stalls, open, settled int
	lastSend              time.Duration
	queue                 []*req
	idle                  []*conn
	finished              bool
	done                  chan struct{}
}

func (c *client) now() time.Duration { return time.Since(c.base) }

func newHist() *hdr.Histogram { return hdr.New(1, 3_600_000_000, 3) }

func usOf(d time.Duration) int64 { return max(1, int64(math.Round(float64(d)/1e3))) }

func pct(h *hdr.Histogram) percentiles {
	if h.TotalCount() == 0 {
		return percentiles{}
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return percentiles{
		Mean: math.Round(h.Mean()) / 1000, P50: ms(h.ValueAtPercentile(50)), P90: ms(h.ValueAtPercentile(90)),
		P99: ms(h.ValueAtPercentile(99)), P999: ms(h.ValueAtPercentile(99.9)), P9999: ms(h.ValueAtPercentile(99.99)),
		Max: ms(h.Max()), Count: h.TotalCount(),
	}
}

// fail counts a failed request (mu held).
func (c *client) fail(kind, why, cause string) {
	switch kind {
	case "connect":
		c.errors.Connect++
		switch cause {
		case "dns":
			c.causes.DNS++
		case "refused":
			c.causes.Refused++
		case "unreachable":
			c.causes.Unreachable++
		default:
			c.causes.Other++
		}
	case "timeout":
		c.errors.Timeout++
	case "reset":
		c.errors.Reset++
	case "http":
		c.errors.HTTP++
	case "size":
		c.errors.Size++
	}
	if c.firstError == nil {
		c.firstError = &why
	}
}

// answered: a whole response to r ended at `end`: a failure by status or size, or a success with
// its latency from the intended send time and its service time; either way the request is settled
// (mu held).
func (c *client) answered(r *req, status int, length int64, end time.Duration) {
	switch {
	case status < 200 || status > 299:
		c.fail("http", fmt.Sprintf("HTTP %d", status), "")
	case c.o.expectBody >= 0 && length != c.o.expectBody:
		c.fail("size", fmt.Sprintf("body of %d B, expected %d B", length, c.o.expectBody), "")
	default:
		c.ok++
		c.lat.RecordValue(usOf(end - min(r.handout, r.intended+timerSlack)))
		c.svc.RecordValue(usOf(end - r.handout))
	}
	c.settle()
}

// settle counts one request as ended (mu held).
func (c *client) settle() {
	c.settled++
	if c.settled == c.planned && !c.finished {
		c.finished = true
		close(c.done)
	}
}

var causeOf = map[syscall.Errno]string{
	syscall.ECONNREFUSED: "refused", syscall.EHOSTUNREACH: "unreachable", syscall.ENETUNREACH: "unreachable",
	syscall.EHOSTDOWN: "unreachable", syscall.ENETDOWN: "unreachable",
}
var causeText = map[string]string{
	"dns": "the name does not resolve", "refused": "connection refused, nothing listens there",
	"unreachable": "no route to the address", "other": "could not connect",
}
var errnoName = map[syscall.Errno]string{
	syscall.ECONNREFUSED: "ECONNREFUSED", syscall.EHOSTUNREACH: "EHOSTUNREACH", syscall.ENETUNREACH: "ENETUNREACH",
	syscall.EHOSTDOWN: "EHOSTDOWN", syscall.ENETDOWN: "ENETDOWN", syscall.ECONNRESET: "ECONNRESET", syscall.EPIPE: "EPIPE",
	syscall.ETIMEDOUT: "ETIMEDOUT", syscall.EADDRNOTAVAIL: "EADDRNOTAVAIL", syscall.EMFILE: "EMFILE", syscall.ENFILE: "ENFILE",
	syscall.EADDRINUSE: "EADDRINUSE", syscall.ENOBUFS: "ENOBUFS",
}

// classify: a socket error as the report counts it. Before the connection was made, a connect
// failure and its cause; after, a reset; deadlines and the kernel's ETIMEDOUT are timeouts.
func classify(err error, established, first bool, timeout time.Duration) (kind, cause, text string) {
	var errno syscall.Errno
	hasErrno := errors.As(err, &errno)
	code := err.Error()
	if hasErrno {
		if n, ok := errnoName[errno]; ok {
			code = n
		}
	}
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		if dnsErr.IsTimeout || dnsErr.IsTemporary {
			return "connect", "dns", causeText["dns"] + " (EAI_AGAIN)"
		}
		return "connect", "dns", causeText["dns"] + " (ENOTFOUND)"
	case errors.Is(err, os.ErrDeadlineExceeded):
		if first && !established {
			return "timeout", "", fmt.Sprintf("no connection or response within %d ms", timeout.Milliseconds())
		}
		return "timeout", "", fmt.Sprintf("no response within %d ms", timeout.Milliseconds())
	case hasErrno && errno == syscall.ETIMEDOUT:
		return "timeout", "", "timed out in the kernel (ETIMEDOUT)"
	case established:
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return "reset", "", "connection closed before the response"
		}
		if hasErrno && errno == syscall.ECONNRESET {
			return "reset", "", "connection reset (" + code + ")"
		}
		return "reset", "", "connection broken (" + code + ")"
	}
	cause = "other"
	if hasErrno {
		if cz, ok := causeOf[errno]; ok {
			cause = cz
		}
	}
	return "connect", cause, causeText[cause] + " (" + code + ")"
}

var errNoLength = errors.New("response without Content-Length")

// statusOf: the status code of an HTTP/1.x status line, -1 when the line is not one.
func statusOf(line []byte) int {
	if len(line) >= 12 && bytes.HasPrefix(line, []byte("HTTP/1.")) && (line[7] == '0' || line[7] == '1') && line[8] == ' ' {
		if s, e := strconv.Atoi(string(line[9:12])); e == nil {
			return s
		}
	}
	return -1
}

// headerOf: what one header line says about the body's length and Connection: close.
func headerOf(line []byte, length *int64, closing *bool) {
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return
	}
	name, value := line[:colon], bytes.TrimSpace(line[colon+1:])
	if bytes.EqualFold(name, []byte("content-length")) {
		if n, e := strconv.ParseInt(string(value), 10, 64); e == nil && n >= 0 {
			*length = n
		}
	} else if bytes.EqualFold(name, []byte("connection")) && len(value) >= 5 && bytes.EqualFold(value[:5], []byte("close")) {
		*closing = true
	}
}

// readResponse reads one response: status, Content-Length, Connection: close, then the body.
func readResponse(br *bufio.Reader) (status int, length int64, closing bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, 0, false, err
	}
	status = statusOf(line)
	length = -1
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return 0, 0, false, err
		}
		if len(line) <= 2 {
			break
		}
		headerOf(line, &length, &closing)
	}
	if length < 0 {
		return status, 0, closing, errNoLength
	}
	if _, err = br.Discard(int(length)); err != nil {
		return status, length, closing, err
	}
	return status, length, closing, nil
}

// handOut gives a request to an idle connection, a new one, or the queue.
func (c *client) handOut(r *req) {
	c.mu.Lock()
	c.sent++
	if n := len(c.idle); n > 0 {
		k := c.idle[n-1]
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		r.handout = c.now()
		k.next <- r
		return
	}
	if c.open < c.o.maxConns {
		c.open++
		c.connections++
		c.mu.Unlock()
		go c.run(r)
		return
	}
	c.queue = append(c.queue, r)
	c.mu.Unlock()
}

// retire: a connection ended; a queued request gets a new one.
func (c *client) retire() {
	c.mu.Lock()
	c.open--
	if len(c.queue) > 0 && !c.finished {
		r := c.queue[0]
		c.queue = c.queue[1:]
		c.open++
		c.connections++
		c.mu.Unlock()
		go c.run(r)
		return
	}
	c.mu.Unlock()
}

// run: one connection, from connect to its last request.
func (c *client) run(first *req) {
	defer c.retire()
	addr := c.addrs[0]
	if len(c.addrs) > 1 {
		addr = c.addrs[rand.IntN(len(c.addrs))]
	}
	where := func() string { return addr + ": " }
	// One time limit covers connect and the first response.
	c0 := c.now()
	first.handout = c0
	deadline := c.base.Add(c0 + c.o.timeout)
	d := c.dialer
	d.Deadline = deadline
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		kind, cause, text := classify(err, false, true, c.o.timeout)
		c.mu.Lock()
		c.fail(kind, where()+text, cause)
		c.settle()
		c.mu.Unlock()
		return
	}
	defer nc.Close()
	took := c.now() - c0
	c.mu.Lock()
	c.conn.RecordValue(usOf(took))
	if took >= 900*time.Millisecond {
		c.stalls++
	}
	c.mu.Unlock()
	br := c.readers.Get().(*bufio.Reader)
	br.Reset(nc)
	defer func() { br.Reset(nil); c.readers.Put(br) }()
	k := &conn{next: make(chan *req, 1)}
	r, served := first, 0
	for {
		sent := c.now()
		served++
		last := served >= c.o.perConn
		if r != first {
			deadline = c.base.Add(sent + c.o.timeout)
		}
		nc.SetDeadline(deadline)
		line := c.reqLine[0]
		if last {
			line = c.reqLine[1]
		}
		c.mu.Lock()
		c.lastSend = max(c.lastSend, sent)
		c.mu.Unlock()
		_, err = nc.Write(line)
		var status int
		var length int64
		var closing bool
		if err == nil {
			status, length, closing, err = readResponse(br)
		}
		end := c.now()
		c.mu.Lock()
		if err != nil {
			if err == errNoLength {
				c.fail("http", "response without Content-Length", "")
			} else {
				kind, cause, text := classify(err, true, r == first, c.o.timeout)
				c.fail(kind, where()+text, cause)
			}
			c.settle()
			c.mu.Unlock()
			return
		}
		c.answered(r, status, length, end)
		if closing || last || c.finished {
			c.mu.Unlock()
			return
		}
		// Free: the oldest queued request, or wait idle for the next one.
		if len(c.queue) > 0 {
			r = c.queue[0]
			c.queue = c.queue[1:]
			c.mu.Unlock()
			r.handout = c.now()
			continue
		}
		c.idle = append(c.idle, k)
		c.mu.Unlock()
		r = <-k.next
		if r == nil {
			return
		}
	}
}

// schedule hands requests out on time.
func (c *client) schedule() {
	interval := float64(time.Second) / float64(c.o.rate)
	intendedOf := func(i int) time.Duration { return c.t0 + time.Duration(math.Round(float64(i)*interval)) }
	dispatched := 0
	for dispatched < c.planned {
		if wait := intendedOf(dispatched) - c.now(); wait > 0 {
			time.Sleep(wait)
		}
		now := c.now()
		due := min(c.planned, int(float64(now-c.t0)/interval)+1)
		for ; dispatched < due; dispatched++ {
			r := &req{intended: intendedOf(dispatched)}
			c.mu.Lock()
			c.lag.RecordValue(usOf(now - r.intended))
			c.mu.Unlock()
			c.handOut(r)
		}
	}
}

// startSpinners (--busy-poll): one child process per online CPU, each pinned to its CPU and
// spinning at nice 19, so no CPU of the machine idles during the run: the client's, and the
// server's, which otherwise halts between requests and must be woken for each one (ab -c 1's
// back-to-back requests never let it). On a VM an idle vCPU halts, and waking it costs tens of µs.
// Nice 19 means the spinners only take CPU time nothing else wants; their CPU is reported apart
// (cpu.busyPollSeconds), not as the client's, and the lab counts nice time apart from the cores
// it reports. They die with the client (PR_SET_PDEATHSIG) and are stopped at its end.
func startSpinners() (stop func() float64) {
	var procs []*exec.Cmd
	for _, cpu := range onlineCPUs() {
		cmd := exec.Command("/proc/self/exe", "--spin", strconv.Itoa(cpu))
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if cmd.Start() == nil {
			procs = append(procs, cmd)
		}
	}
	return func() float64 {
		total := 0.0
		for _, p := range procs {
			p.Process.Kill()
			p.Wait()
			if ru, ok := p.ProcessState.SysUsage().(*syscall.Rusage); ok {
				total += float64(ru.Utime.Sec) + float64(ru.Utime.Usec)/1e6 + float64(ru.Stime.Sec) + float64(ru.Stime.Usec)/1e6
			}
		}
		return total
	}
}

// onlineCPUs: the machine's online CPUs (/sys/devices/system/cpu/online, e.g. "0-3,6"); the
// client's own affinity when that cannot be read.
func onlineCPUs() []int {
	var cpus []int
	if b, err := os.ReadFile("/sys/devices/system/cpu/online"); err == nil {
		for _, part := range strings.Split(strings.TrimSpace(string(b)), ",") {
			lo, hi, found := strings.Cut(part, "-")
			a, e1 := strconv.Atoi(lo)
			z := a
			var e2 error
			if found {
				z, e2 = strconv.Atoi(hi)
			}
			if e1 != nil || e2 != nil {
				cpus = nil
				break
			}
			for c := a; c <= z; c++ {
				cpus = append(cpus, c)
			}
		}
	}
	if len(cpus) > 0 {
		return cpus
	}
	var mask [16]uint64 // up to 1024 CPUs
	if _, _, e := syscall.RawSyscall(syscall.SYS_SCHED_GETAFFINITY, 0, unsafe.Sizeof(mask), uintptr(unsafe.Pointer(&mask))); e == 0 {
		for i, m := range mask {
			for b := 0; b < 64; b++ {
				if m&(1<<b) != 0 {
					cpus = append(cpus, i*64+b)
				}
			}
		}
	}
	if len(cpus) == 0 {
		cpus = []int{0}
	}
	return cpus
}

// schedIdle is SCHED_IDLE from <linux/sched.h>.
const schedIdle = 5

// spin: the --spin <cpu> child. Pinned to its CPU, busy until killed (or its parent dies).
// Affinity, policy and nice are per thread on Linux, so the spinning goroutine is locked to the
// one OS thread they are set on; otherwise the runtime may move it to a thread that has none of them.
func spin(cpu int) {
	runtime.LockOSThread()
	var mask [16]uint64
	if cpu >= 0 && cpu < 1024 {
		mask[cpu/64] = 1 << (cpu % 64)
		syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, 0, unsafe.Sizeof(mask), uintptr(unsafe.Pointer(&mask)))
	}
	// SCHED_IDLE: any normal task that wakes on this CPU preempts the spinner at once (a nice-19
	// task alone may first run out its slice). Nice 19 as well, so its time is booked as nice in
	// /proc/stat and the lab can count it apart.
	var param struct{ priority int32 }
	syscall.RawSyscall(syscall.SYS_SCHED_SETSCHEDULER, 0, schedIdle, uintptr(unsafe.Pointer(&param)))
	syscall.Setpriority(syscall.PRIO_PROCESS, 0, 19)
	ppid := os.Getppid()
	for {
		for i := 0; i < 1<<20; i++ {
		}
		if os.Getppid() != ppid {
			os.Exit(0)
		}
	}
}

func rusage() (user, sys float64) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec) + float64(ru.Utime.Usec)/1e6, float64(ru.Stime.Sec) + float64(ru.Stime.Usec)/1e6
}

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}

func runClient(o options) report {
	u0, s0 := rusage()
	c := &client{o: o, base: time.Now(), planned: o.rate * o.duration, lat: newHist(), svc: newHist(), conn: newHist(), lag: newHist(), done: make(chan struct{})}
	c.dialer = net.Dialer{}
	for i, last := range []bool{false, true} {
		closeHdr := ""
		if last {
			closeHdr = "Connection: close\r\n"
		}
		c.reqLine[i] = []byte(fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: netlab-rps\r\n%s\r\n", o.path, o.host, closeHdr))
	}
	port := strconv.Itoa(o.port)
	c.addrs = []string{net.JoinHostPort(o.host, port)}
	if o.hosts > 1 {
		a := netip.MustParseAddr(o.host).As4()
		b := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
		c.addrs = c.addrs[:0]
		for i := 0; i < o.hosts; i++ {
			v := b + uint32(i)
			c.addrs = append(c.addrs, net.JoinHostPort(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String(), port))
		}
	}
	c.readers.New = func() any { return bufio.NewReaderSize(nil, 4096) }
	c.t0 = c.now() + 20*time.Millisecond
	stopSpinners := func() float64 { return 0 }
	if o.busyPoll {
		stopSpinners = startSpinners()
	}
	if o.engine == "epoll" {
		if c.planned > 0 {
			c.runEpoll()
		}
		return c.report(u0, s0, stopSpinners())
	}
	// Hard bound on the whole run whatever happens.
	hard := time.AfterFunc(time.Duration(o.duration)*time.Second+o.timeout+5*time.Second-c.now()+c.t0, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for range c.queue {
			c.fail("timeout", "still queued at the end of the run", "")
			c.settled++
		}
		c.queue = nil
		if !c.finished {
			c.finished = true
			close(c.done)
		}
	})
	if c.planned > 0 {
		c.schedule()
		<-c.done
	}
	pollSeconds := stopSpinners()
	hard.Stop()
	return c.report(u0, s0, pollSeconds)
}

// report: the run's figures, once every request has ended.
func (c *client) report(u0, s0, pollSeconds float64) report {
	o := c.o
	wall := (c.now() - c.t0).Seconds()
	u1, s1 := rusage()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.finished = true
	for _, k := range c.idle {
		close(k.next)
	}
	c.idle = nil
	interval := 1 / float64(o.rate)
	// The sends were spread over the run, or longer if the last one left late (beyond the timer
	// slack: a last request ~1 ms late on an idle client does not make a held rate look missed).
	window := math.Max(float64(o.duration), (c.lastSend-c.t0-timerSlack).Seconds()+interval)
	achieved := float64(c.ok) / window
	keptUp := math.Abs(achieved-float64(o.rate))/float64(o.rate) <= 0.01
	pctOff := (achieved - float64(o.rate)) / float64(o.rate) * 100
	first := "null"
	if c.firstError != nil {
		first = *c.firstError
	}
	var verdict string
	switch {
	case c.ok == 0:
		verdict = fmt.Sprintf("no request succeeded: all %d failed (first: %s)", c.sent, first)
	case keptUp:
		sign := ""
		if pctOff >= 0 {
			sign = "+"
		}
		verdict = fmt.Sprintf("held %d req/s (achieved %.1f, %s%.2f %%)", o.rate, achieved, sign, pctOff)
	default:
		verdict = fmt.Sprintf("did not hold %d req/s: achieved %.1f req/s (%.1f %%)", o.rate, achieved, pctOff)
		if float64(c.sent-c.ok) > float64(c.planned)*0.01 {
			verdict += fmt.Sprintf("; %d requests failed (first: %s)", c.sent-c.ok, first)
		} else {
			verdict += "; the client or the server could not keep up"
		}
		verdict += ". Latencies are for the achieved rate, not the target."
	}
	enc, err := c.lat.Encode(hdr.V2CompressedEncodingCookieBase)
	if err != nil {
		fmt.Fprintf(os.Stderr, "rps: encoding the histogram: %v\n", err)
		os.Exit(2)
	}
	user, sys := u1-u0, s1-s0
	impl := "go"
	if o.engine == "epoll" {
		impl = "go-epoll"
	}
	return report{
		Tool: "rps", Impl: impl, TargetRate: o.rate, DurationSeconds: o.duration, RequestsPerConnection: o.perConn,
		Planned: c.planned, Sent: c.sent, OK: c.ok, Errors: c.errors, ConnectErrors: c.causes, FirstError: c.firstError,
		AchievedRate: round(achieved, 2), KeptUp: keptUp, Verdict: verdict, Connections: c.connections,
		LatencyMs: pct(c.lat), ServiceMs: pct(c.svc), ConnectMs: pct(c.conn), ConnectStalls: c.stalls, LagMs: pct(c.lag),
		CPU:       cpuUse{UserSeconds: round(user, 6), SystemSeconds: round(sys, 6), Cores: round((user+sys)/wall, 3), BusyPollSeconds: round(pollSeconds, 6)},
		Histogram: string(enc),
	}
}

func usage(msg string) {
	fmt.Fprintf(os.Stderr, "netlab-rps: %s\nusage: netlab-rps http://<ipv4 or name>[:port]/<path> [--rate N] [--duration S] [--requests-per-connection N] [--hosts N] [--max-connections N] [--timeout MS] [--expect-body BYTES]\n", msg)
	os.Exit(2)
}

// parseArgs: the flags of `netlab rps` (which checks them fully before it runs this binary).
func parseArgs(args []string) options {
	o := options{hosts: 1, rate: 1000, duration: 10, perConn: 1, maxConns: 1000, timeout: 5 * time.Second, expectBody: -1, engine: "epoll"}
	url := ""
	num := func(flag, v string, lo, hi int64) int64 {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < lo || n > hi {
			usage(fmt.Sprintf("%s %q: expected a whole number from %d to %d", flag, v, lo, hi))
		}
		return n
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "--") {
			if url != "" {
				usage("one URL only")
			}
			url = a
			continue
		}
		name, v, has := strings.Cut(a, "=")
		if !has {
			if i+1 >= len(args) {
				usage(name + ": missing value")
			}
			i++
			v = args[i]
		}
		switch name {
		case "--rate":
			o.rate = int(num(name, v, 1, 100_000))
		case "--duration":
			o.duration = int(num(name, v, 1, 3600))
		case "--requests-per-connection":
			o.perConn = int(num(name, v, 1, 1_000_000))
		case "--hosts":
			o.hosts = int(num(name, v, 1, 1<<20))
		case "--max-connections":
			o.maxConns = int(num(name, v, 1, 20_000))
		case "--timeout":
			o.timeout = time.Duration(num(name, v, 1, 60_000)) * time.Millisecond
		case "--expect-body":
			o.expectBody = num(name, v, 0, 1<<30)
		case "--spin-before-us":
			spinBefore = time.Duration(num(name, v, 0, 1_000_000)) * time.Microsecond
		case "--spin-after-us":
			spinAfter = time.Duration(num(name, v, 0, 1_000_000)) * time.Microsecond
		case "--engine":
			if v != "goroutines" && v != "epoll" {
				usage(fmt.Sprintf("--engine %q: expected goroutines or epoll", v))
			}
			o.engine = v
		case "--busy-poll":
			if v != "true" && v != "false" {
				usage(fmt.Sprintf("--busy-poll %q: expected true or false", v))
			}
			o.busyPoll = v == "true"
		default:
			usage("unknown flag " + name)
		}
	}
	rest, ok := strings.CutPrefix(url, "http://")
	if !ok {
		usage(fmt.Sprintf("url %q: expected http://<IPv4 address or host name>[:port]/<path>", url))
	}
	hostport, path, _ := strings.Cut(rest, "/")
	o.path = "/" + path
	o.host, o.port = hostport, 80
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		o.host, o.port = h, int(num("port", p, 1, 65535))
	}
	if o.host == "" {
		usage(fmt.Sprintf("url %q: no host", url))
	}
	if o.hosts > 1 {
		if a, err := netip.ParseAddr(o.host); err != nil || !a.Is4() {
			usage("--hosts > 1 needs an IPv4 address in the URL")
		}
	}
	return o
}

// around (--busy-poll-around <command> [args...]): run another load tool (ab, for the client's
// floor) under the same spinners as --busy-poll, so both sides of a comparison see CPUs that never
// idle. The command inherits stdin, stdout and stderr; its exit status is returned. The spinners'
// CPU seconds go to stderr as one line: "busy-poll: <seconds> s".
func around(argv []string) int {
	stop := startSpinners()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err := cmd.Run()
	fmt.Fprintf(os.Stderr, "busy-poll: %v s\n", round(stop(), 6))
	if err == nil {
		return 0
	}
	if x, ok := err.(*exec.ExitError); ok && x.ExitCode() >= 0 {
		return x.ExitCode()
	}
	fmt.Fprintf(os.Stderr, "netlab-rps: --busy-poll-around: %v\n", err)
	return 127
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "--spin" {
		cpu, _ := strconv.Atoi(os.Args[2])
		runtime.GOMAXPROCS(1)
		spin(cpu)
	}
	if len(os.Args) >= 2 && os.Args[1] == "--busy-poll-around" {
		if len(os.Args) < 3 {
			usage("--busy-poll-around: missing the command to run")
		}
		os.Exit(around(os.Args[2:]))
	}
	o := parseArgs(os.Args[1:])
	// Little garbage per request, and what there is need not be collected often: GC work would be
	// the client's own latency and CPU.
	debug.SetGCPercent(400)
	r := runClient(o)
	fmt.Fprintf(os.Stderr, "rps: %s; p50 %v ms, p99 %v ms, mean %v ms; client CPU %v cores\n", r.Verdict, r.LatencyMs.P50, r.LatencyMs.P99, r.LatencyMs.Mean, r.CPU.Cores)
	line, _ := json.Marshal(r)
	os.Stdout.Write(append(line, '\n'))
	if r.OK == 0 {
		os.Exit(1)
	}
}
