package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// ExitUnhealthy is healthcheck's exit code for an answer that is not 2xx or no answer
// at all. Docker reads 1 as "unhealthy" and reserves 2, so usage errors alone exit 2.
const ExitUnhealthy = 1

// healthcheckBodyLimit caps how much of a failing answer's body is quoted.
const healthcheckBodyLimit = 256

const healthcheckDescription = `
Send GET URL and exit 0 when the answer's status is 2xx, 1 otherwise (an error status,
no answer within the timeout, a refused connection), with a message on stderr naming
the URL and what went wrong. Usage errors exit 2. Proxy settings are ignored: the
check is meant for loopback and the container's own network. A tcp://HOST:PORT URL
only opens a connection: exit 0 when it is accepted (what chaosd's Kubernetes
partition probe runs in its probe pod).

Made for the HEALTHCHECK of FROM-scratch images, which have no shell, curl or wget:
  healthcheck: {test: ["CMD", "/chaosd", "healthcheck", "http://127.0.0.1:3000/health/ready"]}`

func runHealthcheck(ctx context.Context, io IO, args []string) error {
	fs, _ := newFlagSet(io, "healthcheck", "URL [--timeout D]", healthcheckDescription)
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long (connect, answer and body)")
	if err := parse(fs, args, 1); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("missing URL (see --help)")
	}
	if *timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, got %s", *timeout)
	}
	u, err := healthcheckURL(fs.Arg(0))
	if err != nil {
		return err
	}
	probe := probeHTTP
	if u.Scheme == "tcp" {
		probe = probeTCP
	}
	status, err := probe(ctx, u, *timeout)
	if err != nil {
		return &ExitCodeError{Code: ExitUnhealthy, Err: err}
	}
	_, err = fmt.Fprintf(io.Stdout, "%s: %s\n", u, status)
	return err
}

func healthcheckURL(raw string) (*url.URL, error) {
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

// probeTCP opens a connection to u's host and port and closes it.
func probeTCP(ctx context.Context, u *url.URL, timeout time.Duration) (string, error) {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return "", fmt.Errorf("%s: %w", u, err)
	}
	_ = c.Close()
	return "connected", nil
}

// probeHTTP sends GET u and returns the status line of a 2xx answer, or an error that
// names the URL and the status, with the start of the body, or the transport failure.
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
	body, _ := io.ReadAll(io.LimitReader(resp.Body, healthcheckBodyLimit+1))
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
	if len(b) > healthcheckBodyLimit {
		b, more = b[:healthcheckBodyLimit], "…"
	}
	s := string(b)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	return fmt.Sprintf(": %q%s", strings.TrimSpace(s), more)
}
