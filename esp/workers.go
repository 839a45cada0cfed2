package esp

// Flights and the crypto worker pool.
//
// A flight is one batch on its way through a pipeline: stage 1 (the device reader, or a
// socket receiver) fills and classifies it and does the serial ESP work (sequence numbers,
// replay pre-check); the crypto stage seals or opens it, split into jobs across the worker
// pool; stage 2 (the sender, or the device writer) waits for the flight's jobs, does the
// serial finishing work and sends or writes. Stage 2 takes flights in the order stage 1
// queued them, so packets leave in the order they came, per SA and overall, however the
// jobs overtake each other. Each flight owns an epoch slot (lifecycle.go) that is odd from
// stage 1's start to stage 2's end: a retired SA's keys outlive every flight that may
// still hold it. A fixed set of flights per pipeline circulates between a free list, stage
// 1, the ordered queue and stage 2; when all are in flight, stage 1 waits (back-pressure),
// so memory is bounded and nothing is dropped inside the data plane.
//
// With one worker (the default on machines with two CPUs or fewer, where the tunnel's two
// ends, the kernel and the applications already compete for the cores) the crypto runs
// inline in stage 2 (inbound) or stage 1 (outbound, which then has no stage 2), and no
// goroutine hand-off is paid per job.

import (
	"context"
	"runtime/pprof"
	"sync"
	"sync/atomic"
)

// flight is the pipeline-independent part of a batch in flight.
type flight struct {
	slot    *epochSlot
	pending atomic.Int32  // crypto jobs not finished, plus one for the dispatcher
	done    chan struct{} // one value per dispatch, sent when every job has finished
}

func newFlight(slot *epochSlot) flight {
	return flight{slot: slot, done: make(chan struct{}, 1)}
}

// jobDone is called once per job and once by the dispatcher.
func (f *flight) jobDone() {
	if f.pending.Add(-1) == 0 {
		f.done <- struct{}{}
	}
}

// cryptoJob seals or opens ops [lo, hi) of a flight's batch with one SA.
type cryptoJob struct {
	f      *flight
	sa     *SA
	b      *Batch
	lo, hi int
	open   bool
}

func (j *cryptoJob) run() {
	if j.open {
		j.sa.Open(j.b, j.lo, j.hi)
	} else {
		j.sa.Seal(j.b, j.lo, j.hi)
	}
}

// workerPool runs crypto jobs on n goroutines (none when n is 1: everything runs inline).
// Safe for concurrent use by the pipelines' dispatchers.
type workerPool struct {
	n    int
	jobs chan cryptoJob
	wg   sync.WaitGroup
	once sync.Once
}

// minChunk is the fewest packets worth a job of their own.
const minChunk = 8

func newWorkerPool(n int) *workerPool {
	p := &workerPool{n: n}
	if n <= 1 {
		return p
	}
	p.jobs = make(chan cryptoJob, 64*n)
	for range n {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			stageLabel("crypto-worker")
			for j := range p.jobs {
				j.run()
				j.f.jobDone()
			}
		}()
	}
	return p
}

func (p *workerPool) inline() bool { return p.n <= 1 }

// chunk is how many ops one job of a flight with total ops gets: enough jobs to keep every
// worker busy, none smaller than minChunk.
func (p *workerPool) chunk(total int) int {
	return max(minChunk, (total+p.n-1)/p.n)
}

// begin prepares f for dispatching jobs; end releases the dispatcher's share, after the
// last submit.
func (p *workerPool) begin(f *flight) { f.pending.Store(1) }
func (p *workerPool) end(f *flight)   { f.jobDone() }

// submit queues ops [lo, hi) of b for sa in jobs of at most size ops.
func (p *workerPool) submit(f *flight, sa *SA, b *Batch, lo, hi, size int, open bool) {
	for l := lo; l < hi; l += size {
		f.pending.Add(1)
		p.jobs <- cryptoJob{f: f, sa: sa, b: b, lo: l, hi: min(l+size, hi), open: open}
	}
}

func (p *workerPool) close() {
	p.once.Do(func() {
		if p.jobs != nil {
			close(p.jobs)
			p.wg.Wait()
		}
	})
}

// stageLabel tags the calling goroutine with its pipeline stage ("stage" in CPU profiles:
// `go tool pprof -tags` shows how busy each stage is, and so which one a direction waits
// for). Labels cost nothing until a profile is taken.
func stageLabel(stage string) {
	pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels("stage", stage)))
}
