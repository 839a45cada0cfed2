//go:build linux

package main

// The relay's plumbing: the TUN device, one goroutine that owns the Impairer (fed by a reader
// goroutine, woken by its schedule, answering control requests), and the control socket.
//
// Usage (inside the middle namespace, as root):
//
//	impair -dev imp0 -a 198.18.1.0/24 -b 198.18.0.0/24 -ctl /tmp/x/impair.sock [-seed N]
//
// It prints "ready DEV" once the device exists; the caller then sets it up and routes into it.
// The control socket takes one JSON request per connection and answers one JSON line:
//
//	{"cmd":"set","rules":[{"dir":"ab","class":"esp","reorder":0.1,"depth":20}]}
//	{"cmd":"stats"}            counters by "dir/class", datagrams waiting, the rules
//	{"cmd":"esplog","on":true} start logging delivered ESP (SPI, sequence) ; "on":false stops
//	{"cmd":"esp"}              the ESP log since the last reset
//	{"cmd":"flush"}            release every held datagram now
//	{"cmd":"reset"}            zero the counters and the ESP log

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

type request struct {
	Cmd   string `json:"cmd"`
	Rules []Rule `json:"rules,omitempty"`
	On    bool   `json:"on,omitempty"`
}

type response struct {
	OK       bool               `json:"ok"`
	Error    string             `json:"error,omitempty"`
	Counters map[string]Counter `json:"counters,omitempty"`
	Waiting  int                `json:"waiting"`
	Rules    []Rule             `json:"rules,omitempty"`
	ESP      []ESPRecord        `json:"esp,omitempty"`
	Unlogged uint64             `json:"unlogged,omitempty"`
}

type call struct {
	req   request
	reply chan response
}

func main() {
	dev := flag.String("dev", "imp0", "TUN device to create")
	aFlag := flag.String("a", "", "side A's prefix (datagrams to it travel ba)")
	bFlag := flag.String("b", "", "side B's prefix (datagrams to it travel ab)")
	ctl := flag.String("ctl", "", "control socket path")
	seed := flag.Uint64("seed", uint64(time.Now().UnixNano()), "random seed (printed)")
	rulesJSON := flag.String("rules", "", "initial rules (JSON list)")
	flag.Parse()
	a, errA := netip.ParsePrefix(*aFlag)
	b, errB := netip.ParsePrefix(*bFlag)
	if errA != nil || errB != nil || *ctl == "" {
		fmt.Fprintln(os.Stderr, "impair: -a and -b prefixes and -ctl are required")
		os.Exit(2)
	}
	im := New(a, b, *seed)
	if *rulesJSON != "" {
		var rules []Rule
		if err := json.Unmarshal([]byte(*rulesJSON), &rules); err != nil {
			fmt.Fprintln(os.Stderr, "impair: -rules:", err)
			os.Exit(2)
		}
		if err := im.SetRules(rules); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	tun, err := openTUN(*dev)
	if err != nil {
		fmt.Fprintln(os.Stderr, "impair:", err)
		os.Exit(1)
	}
	os.Remove(*ctl)
	ln, err := net.Listen("unix", *ctl)
	if err != nil {
		fmt.Fprintln(os.Stderr, "impair:", err)
		os.Exit(1)
	}
	fmt.Printf("ready %s seed %d\n", *dev, *seed)

	packets := make(chan []byte, 4096)
	calls := make(chan call)
	go readTUN(tun, packets)
	go serve(ln, calls)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)

	timer := time.NewTimer(time.Hour)
	var writeErrs uint64
	write := func(out [][]byte) {
		for _, p := range out {
			if _, err := tun.Write(p); err != nil {
				writeErrs++
				if writeErrs < 10 {
					fmt.Fprintln(os.Stderr, "impair: write:", err)
				}
			}
		}
	}
	for {
		if next, ok := im.Next(); ok {
			timer.Reset(max(time.Until(next), 0))
		}
		select {
		case p := <-packets:
			im.Input(time.Now(), p)
		case c := <-calls:
			c.reply <- handle(im, c.req)
		case <-timer.C:
		case <-sig:
			os.Remove(*ctl)
			return
		}
		write(im.Due(time.Now()))
	}
}

// handle answers one control request (in the goroutine that owns im).
func handle(im *Impairer, req request) response {
	switch req.Cmd {
	case "set":
		if err := im.SetRules(req.Rules); err != nil {
			return response{Error: err.Error()}
		}
		fmt.Println("rules:", describe(req.Rules))
		return response{OK: true, Rules: im.Rules()}
	case "stats":
		return response{OK: true, Counters: im.Counters(), Waiting: im.Waiting(), Rules: im.Rules()}
	case "esplog":
		im.LogESP(req.On)
		return response{OK: true}
	case "esp":
		log, lost := im.ESPLog()
		return response{OK: true, ESP: log, Unlogged: lost}
	case "flush":
		im.Flush(time.Now())
		return response{OK: true, Waiting: im.Waiting()}
	case "reset":
		im.Reset()
		return response{OK: true}
	}
	return response{Error: fmt.Sprintf("impair: unknown command %q", req.Cmd)}
}

func serve(ln net.Listener, calls chan<- call) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			var req request
			line, err := bufio.NewReaderSize(c, 1<<16).ReadBytes('\n')
			var resp response
			if err == nil {
				err = json.Unmarshal(line, &req)
			}
			if err != nil {
				resp = response{Error: "impair: bad request: " + err.Error()}
			} else {
				reply := make(chan response, 1)
				calls <- call{req: req, reply: reply}
				resp = <-reply
			}
			json.NewEncoder(c).Encode(resp)
		}()
	}
}

func readTUN(tun *os.File, out chan<- []byte) {
	buf := make([]byte, 65536)
	for {
		n, err := tun.Read(buf)
		if err != nil {
			fmt.Fprintln(os.Stderr, "impair: read:", err)
			os.Exit(1)
		}
		out <- append([]byte(nil), buf[:n]...)
	}
}

// openTUN creates a TUN device without packet information (IFF_NO_PI): each read is one IP
// packet, each write injects one.
func openTUN(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	var ifr [unix.IFNAMSIZ + 64]byte
	copy(ifr[:unix.IFNAMSIZ-1], name)
	*(*uint16)(unsafe.Pointer(&ifr[unix.IFNAMSIZ])) = unix.IFF_TUN | unix.IFF_NO_PI
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETIFF, uintptr(unsafe.Pointer(&ifr[0]))); errno != 0 {
		unix.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF %s: %w", name, errno)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), "/dev/net/tun"), nil
}
