// compare_go.go - Go's channels in the comparison benchmarks (see
// ../compare.h): the queue workload only, on a buffered channel (system
// "go") and an unbuffered one ("go", capacity 0), measured the way
// compare.c measures every C system.
//
//	compare_go [--workload W]... [--items Q] [--capacity C] [...]
//
// Prints, for W = queue or all (other workloads print nothing; Go has no
// futures to compare):
//
//	bench	queue_1p1c_cap1024	go	<rate>	items/s
//	bench	queue_2p2c_cap1024	go	<rate>	items/s
//	bench	queue_1p1c_cap0	go	<rate>	items/s
//	bench	queue_2p2c_cap0	go	<rate>	items/s
//
// and each with _cpu (process CPU time per item, ns).  A run: P producer
// and C consumer goroutines meet at a barrier, producers send values that
// say who sent them and in which order, consumers receive a fixed quota
// each and check per-producer order; the time is from the earliest start
// to the latest end.  The unbuffered runs move a tenth of the items.
// GOMAXPROCS is Go's default, one per CPU.  Standard library only.
package main

import (
	"flag"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
)

type worker struct {
	start, end                  int64
	count, sum, sumsq, disorder uint64
	_                           [64]byte // no false sharing
}

func cpuNs() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func once(np, nc, capacity int, m uint64) float64 {
	ch := make(chan uint64, capacity)
	shift := uint(0)
	for (1 << shift) < np {
		shift++
	}
	var ready, done sync.WaitGroup
	gate := make(chan struct{})
	w := make([]worker, np+nc)
	var esum, esumsq uint64
	ready.Add(np + nc)
	done.Add(np + nc)
	for i := 0; i < np; i++ {
		n := m / uint64(np)
		if uint64(i) < m%uint64(np) {
			n++
		}
		for seq := uint64(1); seq <= n; seq++ {
			v := seq<<shift | uint64(i)
			esum += v
			esumsq += v * v
		}
		go func(i int, n uint64) {
			defer done.Done()
			ready.Done()
			<-gate
			w[i].start = time.Now().UnixNano()
			for seq := uint64(1); seq <= n; seq++ {
				ch <- seq<<shift | uint64(i)
			}
			w[i].end = time.Now().UnixNano()
		}(i, n)
	}
	for j := 0; j < nc; j++ {
		n := m / uint64(nc)
		if uint64(j) < m%uint64(nc) {
			n++
		}
		go func(k int, n uint64) {
			defer done.Done()
			last := make([]uint64, np)
			ready.Done()
			<-gate
			w[k].start = time.Now().UnixNano()
			for i := uint64(0); i < n; i++ {
				v := <-ch
				p := v & (1<<shift - 1)
				seq := v >> shift
				if p >= uint64(np) || seq <= last[p] {
					w[k].disorder++
				} else {
					last[p] = seq
				}
				w[k].count++
				w[k].sum += v
				w[k].sumsq += v * v
			}
			w[k].end = time.Now().UnixNano()
		}(np+j, n)
	}
	ready.Wait()
	close(gate)
	done.Wait()
	var start, end int64 = 1 << 62, 0
	var count, sum, sumsq, disorder uint64
	for i := range w {
		if w[i].start < start {
			start = w[i].start
		}
		if w[i].end > end {
			end = w[i].end
		}
		count += w[i].count
		sum += w[i].sum
		sumsq += w[i].sumsq
		disorder += w[i].disorder
	}
	if count != m || sum != esum || sumsq != esumsq || disorder != 0 {
		fmt.Fprintf(os.Stderr, "compare_go: queue %dP/%dC cap %d FAILED: "+
			"%d of %d items, %d out of order\n", np, nc, capacity,
			count, m, disorder)
		os.Exit(1)
	}
	return float64(m) * 1e9 / float64(end-start)
}

type multi []string

func (s *multi) String() string     { return fmt.Sprint(*s) }
func (s *multi) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	var workloads, systems multi
	flag.Var(&workloads, "workload", "latency, throughput, spawn, queue, pipeline or all")
	flag.Var(&systems, "system", "only this system (go)")
	items := flag.Uint64("items", 2000000, "items per queue run")
	capacity := flag.Int("capacity", 1024, "buffered channel capacity")
	flag.Uint64("iterations", 0, "ignored (no spawn workload)")
	flag.Uint64("tasks", 0, "ignored (no spawn workload)")
	flag.Uint64("pipeline-items", 0, "ignored (no pipeline workload)")
	flag.Parse()
	run := len(workloads) == 0
	for _, w := range workloads {
		if w == "queue" || w == "all" {
			run = true
		}
	}
	for _, s := range systems {
		if s != "go" {
			fmt.Fprintf(os.Stderr, "compare_go: no system '%s' here\n", s)
			os.Exit(2)
		}
	}
	if !run {
		return
	}
	watchdog := time.AfterFunc(300*time.Second, func() {
		fmt.Fprintln(os.Stderr, "compare_go: WATCHDOG: hang")
		os.Exit(1)
	})
	defer watchdog.Stop()
	for _, c := range []int{*capacity, 0} {
		m := *items
		if c == 0 {
			m = m/10 + 4
		}
		once(2, 2, c, m/10+2) // warm-up
		for _, pc := range [][2]int{{1, 1}, {2, 2}} {
			name := fmt.Sprintf("queue_%dp%dc_cap%d", pc[0], pc[1], c)
			c0 := cpuNs()
			rate := once(pc[0], pc[1], c, m)
			c0 = cpuNs() - c0
			fmt.Fprintf(os.Stderr, "# %-22s %-15s %12.0f items/s\n", name, "go", rate)
			fmt.Printf("bench\t%s\tgo\t%.0f\titems/s\n", name, rate)
			fmt.Printf("bench\t%s_cpu\tgo\t%.0f\tns\n", name, float64(c0)/float64(m))
		}
	}
}
