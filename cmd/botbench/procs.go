package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a server process botbench started. Its output is kept (the last
// part of it) to explain a failure.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *tailBuffer
	done chan struct{}
	err  error // set before done is closed
}

// startProc starts bin with args in env (nil: botbench's environment).
func startProc(name, bin string, args, env []string) (*proc, error) {
	p := &proc{name: name, out: &tailBuffer{max: 64 << 10}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.Env = env
	p.cmd.SysProcAttr = sysProcAttr()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited returns an error saying how p ended if it has, else nil.
func (p *proc) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited (%v):\n%s", p.name, p.err, p.out.String())
	default:
		return nil
	}
}

// stop sends SIGTERM, and SIGKILL if p has not exited within grace.
func (p *proc) stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return fmt.Errorf("%s did not stop within %s of SIGTERM; killed", p.name, grace)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// procSample is one reading of a process's counters.
type procSample struct {
	cpu          time.Duration // utime + stime, all threads
	rssKB, hwmKB int64         // VmRSS and VmHWM (peak)
}

// readProc reads /proc/PID/stat and /proc/PID/status; pid 0 is botbench
// itself.
func readProc(pid int, clkTck int64) (procSample, error) {
	dir := "/proc/self"
	if pid != 0 {
		dir = "/proc/" + strconv.Itoa(pid)
	}
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return procSample{}, fmt.Errorf("read CPU time: %w", err)
	}
	// The command name (field 2) is in parentheses and may hold blanks;
	// the fields after its closing parenthesis start with field 3, state.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return procSample{}, fmt.Errorf("%s/stat: no command name", dir)
	}
	fields := strings.Fields(string(stat[i+1:]))
	const utime, stime = 14 - 3, 15 - 3
	if len(fields) <= stime {
		return procSample{}, fmt.Errorf("%s/stat: %d fields", dir, len(fields)+2)
	}
	u, err1 := strconv.ParseInt(fields[utime], 10, 64)
	s, err2 := strconv.ParseInt(fields[stime], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return procSample{}, fmt.Errorf("%s/stat: %w", dir, err)
	}
	sample := procSample{cpu: time.Duration((u + s) * int64(time.Second) / clkTck)}
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return procSample{}, fmt.Errorf("read memory: %w", err)
	}
	for line := range strings.Lines(string(status)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return procSample{}, fmt.Errorf("%s/status %s: %w", dir, k, err)
		}
		if k == "VmRSS" {
			sample.rssKB = kb
		} else {
			sample.hwmKB = kb
		}
	}
	return sample, nil
}

// readBusy returns the CPU time all CPUs spent busy since boot (the
// "cpu" line of /proc/stat less idle and iowait), for what the machine did
// besides the measured processes.
func readBusy(clkTck int64) (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("read machine CPU time: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var busy int64
	// user nice system idle iowait irq softirq steal: idle (3) and iowait (4)
	// are not busy; guest time is already part of user.
	for i, v := range f[1:9] {
		if i == 3 || i == 4 {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		busy += n
	}
	return time.Duration(busy * int64(time.Second) / clkTck), nil
}

// clockTicks is the unit of /proc/PID/stat's CPU times (sysconf's
// _SC_CLK_TCK), which the kernel hands every process in its auxiliary
// vector; 100, its value on every common Linux, if that cannot be read.
func clockTicks() int64 {
	const atClkTck = 17 // AT_CLKTCK, from <elf.h>
	auxv, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return 100
	}
	for i := 0; i+16 <= len(auxv); i += 16 {
		k := binary.NativeEndian.Uint64(auxv[i:])
		v := binary.NativeEndian.Uint64(auxv[i+8:])
		if k == atClkTck && v > 0 {
			return int64(v)
		}
	}
	return 100
}

// freePort finds a free loopback port. It is released before the server
// binds it, so it is drawn below the kernel's ephemeral range (32768 and up
// on Linux): a port the kernel hands out may be taken by any outgoing
// connection — the load generator opens many — between this check and the
// server's bind (seen in CI). The range, 12000–19999, is also apart from
// the one the envoy package's tests draw from (20000–31999), which run at
// the same time under go test ./...
func freePort() (int, error) {
	for range 100 {
		port := 12000 + rand.IntN(8000)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ln.Close()
		return port, nil
	}
	return 0, errors.New("find a free port: none free below the ephemeral range in 100 draws")
}

// loadAvg is /proc/loadavg's first three fields, or why not.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// poll calls cond every interval until it returns nil, stop returns an
// error, or timeout passes.
func poll(timeout time.Duration, what string, stop func() error, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if stop != nil {
			if serr := stop(); serr != nil {
				return fmt.Errorf("%s: %w", what, serr)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not within %s: %w", what, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
