// Command healthcheck measures what one container health check costs, side by side:
// `chaosd healthcheck URL` against `chaosd-healthcheck URL` (the small binary that
// chaosd's image runs as its HEALTHCHECK), alternated, each exec's wall time and CPU
// (user + system) taken from the child's rusage. The URL is served by this process
// on loopback.
//
//	go run ./bench/healthcheck -chaosd bin/chaosd -small bin/chaosd-healthcheck -n 100
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"time"
)

func main() {
	chaosd := flag.String("chaosd", "bin/chaosd", "the chaosd binary (runs `chaosd healthcheck URL`)")
	small := flag.String("small", "bin/chaosd-healthcheck", "the chaosd-healthcheck binary (runs `chaosd-healthcheck URL`)")
	n := flag.Int("n", 100, "execs of each, alternated")
	flag.Parse()
	if err := run(*chaosd, *small, *n); err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck bench:", err)
		os.Exit(1)
	}
}

type sample struct{ wall, cpu time.Duration }

func run(chaosd, small string, n int) error {
	if n < 1 {
		return fmt.Errorf("-n %d: want at least 1", n)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/health/ready"
	ways := []struct {
		name string
		argv []string
	}{
		{"chaosd healthcheck", []string{chaosd, "healthcheck", "--timeout", "2s", url}},
		{"chaosd-healthcheck", []string{small, "--timeout", "2s", url}},
	}
	samples := make([][]sample, len(ways))
	for i := range n {
		for j, w := range ways {
			s, err := execOnce(w.argv)
			if err != nil {
				return fmt.Errorf("%s (exec %d): %w", w.name, i+1, err)
			}
			samples[j] = append(samples[j], s)
		}
	}
	fmt.Printf("%d execs each, alternated; medians (p90)\n", n)
	med := make([]sample, len(ways))
	for j, w := range ways {
		med[j] = percentile(samples[j], 50)
		p90 := percentile(samples[j], 90)
		fmt.Printf("%-20s wall %7.1f ms (%5.1f)   CPU %6.1f ms (%5.1f)\n", w.name+":", ms(med[j].wall), ms(p90.wall), ms(med[j].cpu), ms(p90.cpu))
	}
	fmt.Printf("chaosd-healthcheck / chaosd healthcheck: wall %.2f, CPU %.2f\n",
		float64(med[1].wall)/float64(med[0].wall), float64(med[1].cpu)/float64(med[0].cpu))
	return nil
}

func execOnce(argv []string) (sample, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	wall := time.Since(start)
	if err != nil {
		return sample{}, fmt.Errorf("%v: %s", err, out)
	}
	ps := cmd.ProcessState
	return sample{wall: wall, cpu: ps.UserTime() + ps.SystemTime()}, nil
}

// percentile is the pct-th percentile of the wall times and, apart, of the CPU times.
func percentile(s []sample, pct int) sample {
	walls, cpus := make([]time.Duration, len(s)), make([]time.Duration, len(s))
	for i, x := range s {
		walls[i], cpus[i] = x.wall, x.cpu
	}
	slices.Sort(walls)
	slices.Sort(cpus)
	i := (len(s) - 1) * pct / 100
	return sample{wall: walls[i], cpu: cpus[i]}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
