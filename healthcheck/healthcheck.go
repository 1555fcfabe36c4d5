// Package healthcheck probes an address the way a container's health check does:
// GET an http(s) URL and want a 2xx answer, or open a connection to tcp://HOST:PORT.
//
// It is shared by `chaosd healthcheck` and by cmd/chaosd-healthcheck, the small
// binary that chaosd's image runs as the HEALTHCHECK of the bundled cluster's
// containers. Docker execs a health check every interval in every container, and
// chaosd's own start-up (its Kubernetes, Docker and OpenAI clients' package
// initialisation and a 100 MB binary paged in) costs about 80 ms of CPU per exec; the
// small binary links only this package and net/http and costs about a fifth of that.
package healthcheck

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Exit codes: Docker reads 1 as "unhealthy" and reserves 2, so usage errors alone
// exit 2.
const (
	ExitHealthy   = 0
	ExitUnhealthy = 1
	ExitUsage     = 2
)

// DefaultTimeout bounds a probe (connect, answer and body) when no timeout is given.
const DefaultTimeout = 5 * time.Second

// bodyLimit caps how much of a failing answer's body is quoted.
const bodyLimit = 256

// Description is the help text of both commands.
const Description = `
Send GET URL and exit 0 when the answer's status is 2xx, 1 otherwise (an error status,
no answer within the timeout, a refused connection), with a message on stderr naming
the URL and what went wrong. Usage errors exit 2. Proxy settings are ignored: the
check is meant for loopback and the container's own network. A tcp://HOST:PORT URL
only opens a connection: exit 0 when it is accepted (what chaosd's Kubernetes
partition probe runs in its probe pod).

Made for the HEALTHCHECK of FROM-scratch images, which have no shell, curl or wget.
chaosd's image also holds /chaosd-healthcheck, the same check in a small binary that
starts in a fraction of chaosd's time (Docker runs a health check every interval in
every container):
  healthcheck: {test: ["CMD", "/chaosd-healthcheck", "http://127.0.0.1:3000/health/ready"]}`

// ParseURL checks that raw is an http(s) URL with a host, or tcp://HOST:PORT.
func ParseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("bad URL %q: %w", raw, err)
	}
	if u.Scheme == "tcp" {
		if _, _, err := net.SplitHostPort(u.Host); err != nil || u.Path != "" {
			return nil, fmt.Errorf("bad URL %q: want tcp://host:port", raw)
		}
		return u, nil
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("bad URL %q: want http://host[:port]/path, https://… or tcp://host:port", raw)
	}
	return u, nil
}

// Probe checks u within timeout: a tcp URL by opening a connection, an http(s) one by
// GET. It returns what was found ("connected", or the 2xx status line), or an error
// that names the URL and what went wrong (the status with the start of the body, no
// answer within the timeout, the transport's failure).
func Probe(ctx context.Context, u *url.URL, timeout time.Duration) (string, error) {
	if u.Scheme == "tcp" {
		return probeTCP(ctx, u, timeout)
	}
	return probeHTTP(ctx, u, timeout)
}

func probeTCP(ctx context.Context, u *url.URL, timeout time.Duration) (string, error) {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return "", fmt.Errorf("%s: %w", u, err)
	}
	_ = c.Close()
	return "connected", nil
}

func probeHTTP(ctx context.Context, u *url.URL, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", fmt.Errorf("%s: %w", u, err)
	}
	req.Header.Set("User-Agent", "chaosd-healthcheck")
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return "", fmt.Errorf("%s: no answer within %s", u, timeout)
		}
		return "", fmt.Errorf("%s: %w", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, bodyLimit+1))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", fmt.Errorf("%s: unhealthy: %s%s", u, resp.Status, quoteBody(body))
	}
	return resp.Status, nil
}

// quoteBody renders the start of a body for an error message.
func quoteBody(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	more := ""
	if len(b) > bodyLimit {
		b, more = b[:bodyLimit], "…"
	}
	s := string(b)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	return fmt.Sprintf(": %q%s", strings.TrimSpace(s), more)
}

// Main is the small binary's command line, `NAME URL [--timeout D]` (flags before or
// after the URL), and returns its exit code. It says what `chaosd healthcheck` says,
// in the same words and with the same exit codes.
func Main(ctx context.Context, name string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", DefaultTimeout, "give up after this long (connect, answer and body)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s URL [--timeout D]\n%s\n\nFlags:\n", name, Description)
		fs.PrintDefaults()
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return ExitHealthy
			}
			return ExitUsage // the flag package has said what was wrong
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "%s: "+format+"\n", append([]any{name}, a...)...)
		return ExitUsage
	}
	switch {
	case len(pos) == 0:
		return usage("missing URL (see --help)")
	case len(pos) > 1:
		return usage("unexpected argument %q (see --help)", pos[1])
	case *timeout <= 0:
		return usage("--timeout must be positive, got %s", *timeout)
	}
	u, err := ParseURL(pos[0])
	if err != nil {
		return usage("%v", err)
	}
	status, err := Probe(ctx, u, *timeout)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return ExitUnhealthy
	}
	fmt.Fprintf(stdout, "%s: %s\n", u, status)
	return ExitHealthy
}
