//go:build linux

package main

import "testing"

// A perf script excerpt in the format perf 6.x prints for -F comm,pid,ip,sym with call
// chains; each sample's category is said in the test table below.
const perfScriptSample = `oakley-bench-oa 100 
	         4c1a20 oakley/crypto.gcmVAESTag.abi0
	         4c0f00 oakley/crypto.(*gcmVAES).seal

oakley-bench-oa 100 
	ffffffff82242009 pvm_irq_enable
	ffffffff82241f31 __raw_callee_save_pvm_irq_enable
	ffffffff81390001 finish_task_switch.isra.0
	ffffffff81390002 __schedule
	           89a92 runtime.futex.abi0

oakley-bench-oa 101 
	ffffffff82242009 pvm_irq_enable
	ffffffff82241f31 __raw_callee_save_pvm_irq_enable
	ffffffff81369c4d handle_softirqs
	ffffffff8223c951 do_syscall_64
	           a35ba syscall.Syscall

oakley-bench-oa 101 
	ffffffff8175a000 _copy_from_iter
	ffffffff8175a001 tun_get_user

oakley-bench-oa 101 
	          4af4c6 oakley/tun.(*groWriter).plan

oakley-bench-oa 100 
	          4af4c6 oakley/esp.(*SA).Check

oakley-bench-oa 100 
	           89a92 runtime.memmove

oakley-bench-oa 100 
	          4b0000 oakley/esp.(*udpSock).handOut

iperf3 7 
	ffffffff8207c95f __tcp_transmit_skb

swapper 0 
	ffffffff82242100 pvm_safe_halt_hc

kworker/0:2-eve 9 
	ffffffff81000000 process_one_work

oakley-bench-oa 555 
	          4c1a20 oakley/crypto.gcmVAESTag.abi0
`

func TestFoldPerf(t *testing.T) {
	counts, n := foldPerf([]byte(perfScriptSample), map[int]bool{100: true, 101: true})
	if n != 12 {
		t.Fatalf("%d samples, want 12", n)
	}
	want := map[string]int{
		"tunnel: cipher":           1,
		"tunnel: kernel scheduler": 1, // the irq-enable sample under __schedule
		"tunnel: kernel network":   1, // the irq-enable sample under a softirq on a system call
		"tunnel: kernel copies":    1,
		"tunnel: TUN/UDP batching": 2,
		"tunnel: ESP/protocol":     1,
		"tunnel: Go runtime, libc": 1,
		"iperf3 (TCP, both ends)":  1,
		"idle":                     1,
		"other processes":          2, // the kworker, and pid 555's cipher: not a tunnel process
	}
	for c, w := range want {
		if counts[c] != w {
			t.Errorf("%s: %d samples, want %d", c, counts[c], w)
		}
	}
	for c := range counts {
		if _, ok := want[c]; !ok {
			t.Errorf("unexpected category %q (%d)", c, counts[c])
		}
	}
}

func TestParseStageTags(t *testing.T) {
	out := ` stage: Total 3.13s of 3.49s (89.68%)
        2.74s (78.51%): out-reader
        200ms ( 5.73%): in-writer
        1m0s (1%): bogus-but-parsed
         x (0%): unparsable
`
	got := parseStageTags(out, 5)
	want := "out-reader 55%, in-writer 4%, bogus-but-parsed 1200%"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
