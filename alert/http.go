package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout bounds one HTTP send when a constructor is given no timeout.
const DefaultTimeout = 10 * time.Second

// ErrPermanent marks a send error that retrying cannot fix (a 4xx answer other than
// 408 and 429, a request that cannot be built). Sinks wrap it; the notifier then
// gives up at once.
var ErrPermanent = errors.New("permanent")

// errBadURL is what the constructors return for a URL they cannot use. It never
// repeats the URL, which is a secret.
var errBadURL = errors.New("url must be absolute http or https with a host")

// poster POSTs JSON to one URL and keeps that URL out of every error it returns.
type poster struct {
	url     string // the secret
	shown   string // what errors and logs may say instead
	secrets []string
	client  *http.Client
}

// newPoster checks raw and builds a poster whose errors show shown(u) in its place.
func newPoster(raw string, timeout time.Duration, shown func(*url.URL) string) (*poster, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errBadURL // err would quote the URL
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	p := &poster{url: raw, shown: shown(u), client: &http.Client{
		Timeout: timeout,
		// A redirect's Location may carry secrets too, and a webhook has no business
		// redirecting: the 3xx is reported as it is.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	p.secrets = secretParts(raw, u)
	return p, nil
}

// hostOnly shows scheme://host, without user info, path or query.
func hostOnly(u *url.URL) string { return u.Scheme + "://" + u.Host }

// secretParts lists every form in which the URL or its secret parts may turn up in an
// error message, longest first so that the whole URL is replaced before its parts.
func secretParts(raw string, u *url.URL) []string {
	parts := []string{raw, u.String(), u.Redacted()}
	if u.User != nil {
		// as net/http prints it in its errors
		stripped := strings.Replace(u.String(), u.User.String()+"@", u.User.Username()+":***@", 1)
		parts = append(parts, stripped, u.User.String())
		if pw, ok := u.User.Password(); ok && pw != "" {
			parts = append(parts, pw)
		}
	}
	for _, s := range []string{u.EscapedPath(), u.Path, u.RawQuery, u.Query().Encode()} {
		if len(strings.Trim(s, "/")) > 0 {
			parts = append(parts, s)
		}
	}
	return parts
}

// redact replaces every secret part of the URL in msg.
func (p *poster) redact(msg string) string {
	for _, s := range p.secrets {
		msg = strings.ReplaceAll(msg, s, p.shown)
	}
	return msg
}

// sendError is an error whose text has been redacted. It does not unwrap to the
// original error (whose text holds the URL) but still answers errors.Is for it, so
// callers can tell context.DeadlineExceeded or ErrPermanent.
type sendError struct {
	msg        string
	err        error
	permanent  bool
	retryAfter time.Duration
}

func (e *sendError) Error() string { return e.msg }

func (e *sendError) Is(target error) bool {
	return (target == ErrPermanent && e.permanent) || (e.err != nil && errors.Is(e.err, target))
}

// RetryAfter is the delay the server asked for (429/503 Retry-After), or zero.
func (e *sendError) RetryAfter() time.Duration { return e.retryAfter }

// post sends body as JSON; any 2xx is success.
func (p *poster) post(ctx context.Context, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return &sendError{msg: p.shown + ": encode: " + err.Error(), err: err, permanent: true}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(b))
	if err != nil {
		return &sendError{msg: p.redact(p.shown + ": " + err.Error()), err: err, permanent: true}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "chaosd-alert")
	resp, err := p.client.Do(req)
	if err != nil {
		return &sendError{msg: p.redact(p.shown + ": " + err.Error()), err: err}
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	msg := fmt.Sprintf("%s: HTTP %d", p.shown, resp.StatusCode)
	if s := strings.TrimSpace(string(snippet)); s != "" {
		msg += ": " + strings.ToValidUTF8(s, "?")
	}
	code := resp.StatusCode
	retry := code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500
	return &sendError{msg: p.redact(msg), permanent: !retry, retryAfter: retryAfter(resp.Header.Get("Retry-After"))}
}

// retryAfter parses a Retry-After of delay-seconds; dates are ignored.
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}
