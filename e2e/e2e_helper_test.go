//go:build linux

package e2e

// The test binary doubles as a small network tool that the tests run inside a namespace
// (`ip netns exec NS env OKE_HELPER=MODE <test binary> ARGS...`): TestMain sees OKE_HELPER
// and runs runHelper instead of the tests. This needs no curl, python or socat.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

const envHelper = "OKE_HELPER"

// runHelper runs one helper mode with os.Args[1:] and returns the exit status:
//
//	http-serve ADDR BODY       serve BODY on http://ADDR/ until killed; prints "listening ADDR"
//	http-get URL [PROXY]       GET URL, through PROXY (socks5://host:port) if given; print the body
//	dns-serve ADDR ZONE IP     a DNS server on UDP and TCP ADDR: ZONE and names under it have A IP
func runHelper(mode string) int {
	args := os.Args[1:]
	switch {
	case mode == "http-serve" && len(args) == 2:
		var ln net.Listener
		var err error
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if ln, err = net.Listen("tcp", args[0]); err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "http-serve:", err)
			return 1
		}
		fmt.Println("listening", ln.Addr())
		body := args[1]
		err = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, body)
		}))
		fmt.Fprintln(os.Stderr, "http-serve:", err)
		return 1
	case mode == "dns-serve" && len(args) == 3:
		return dnsServe(args)
	case mode == "http-get" && (len(args) == 1 || len(args) == 2):
		tr := &http.Transport{DisableKeepAlives: true}
		if len(args) == 2 {
			u, err := url.Parse(args[1])
			if err != nil {
				fmt.Fprintln(os.Stderr, "http-get:", err)
				return 2
			}
			tr.Proxy = http.ProxyURL(u)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, args[0], nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, "http-get:", err)
			return 2
		}
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			fmt.Fprintln(os.Stderr, "http-get:", err)
			return 1
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		os.Stdout.Write(b)
		if err != nil || resp.StatusCode != http.StatusOK {
			fmt.Fprintln(os.Stderr, "http-get:", resp.Status, err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(os.Stderr, "%s=%s: unknown mode or wrong arguments %q\n", envHelper, mode, args)
	return 2
}

// helperArgv is the command line that runs a helper mode inside ns.
func helperArgv(t *testing.T, ns netns, mode string, args ...string) []string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return ns.args("env", append([]string{envHelper + "=" + mode, self}, args...)...)
}

// serveHTTP runs an HTTP server with a fixed body on addr inside ns until the test ends.
func serveHTTP(t *testing.T, ns netns, addr, body string) {
	t.Helper()
	p := startProc(t, "http-serve "+addr, helperArgv(t, ns, "http-serve", addr, body)...)
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(p.out.String(), "listening") {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("HTTP server on %s in %s did not start:\n%s", addr, ns, p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// httpGet fetches url from inside ns (through a SOCKS5 proxy when proxy is not empty) and
// fails the test unless the body is want.
func httpGet(t *testing.T, ns netns, url, proxy, want string) {
	t.Helper()
	args := []string{url}
	if proxy != "" {
		args = append(args, proxy)
	}
	argv := helperArgv(t, ns, "http-get", args...)
	out, err := runTimeout(30*time.Second, argv[0], argv[1:]...)
	if err != nil || out != want {
		via := ""
		if proxy != "" {
			via = " via " + proxy
		}
		t.Fatalf("GET %s%s in %s: %v; got %q, want %q", url, via, ns, err, out, want)
	}
}
