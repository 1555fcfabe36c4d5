package probes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// User check kinds.
const (
	UserSQL  = "sql"  // the query must return no rows
	UserHTTP = "http" // the URL must answer 2xx
	UserNATS = "nats" // the stream or KV bucket must exist
)

// UserCheck is a check the user declared in config: exactly one of SQL, URL,
// Stream or Bucket is set.
type UserCheck struct {
	Name   string
	SQL    string
	URL    string
	Stream string
	Bucket string
}

// Kind is the check's kind.
func (c UserCheck) Kind() string {
	switch {
	case c.SQL != "":
		return UserSQL
	case c.URL != "":
		return UserHTTP
	}
	return UserNATS
}

// UserResult is one reading: OK says whether the check held; Detail says what was
// seen. Err set means the check could not be made (the reading is unknown).
type UserResult struct {
	OK     bool
	Detail string
	Err    error
}

// RunUserCheck makes one reading of c.
func RunUserCheck(ctx context.Context, c UserCheck, d *Driver, pg *Postgres, nc *NATS) UserResult {
	switch c.Kind() {
	case UserSQL:
		n, first, err := pg.Rows(ctx, c.SQL)
		if err != nil {
			return UserResult{Err: err}
		}
		if n > 0 {
			return UserResult{Detail: fmt.Sprintf("%d rows, first: %s", n, first)}
		}
		return UserResult{OK: true, Detail: "no rows"}
	case UserHTTP:
		return d.httpCheck(ctx, c.URL)
	}
	return nc.exists(ctx, c)
}

func (d *Driver) httpCheck(ctx context.Context, url string) UserResult {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return UserResult{Err: err}
	}
	resp, err := d.http.Do(req)
	if err != nil {
		// No answer is an observation about the service, not about chaosd.
		return UserResult{Detail: "no answer: " + err.Error()}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	detail := fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))
	return UserResult{OK: resp.StatusCode/100 == 2, Detail: detail}
}

func (n *NATS) exists(ctx context.Context, c UserCheck) UserResult {
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	if c.Bucket != "" {
		_, err := n.js.KeyValue(ctx, c.Bucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			return UserResult{Detail: "bucket " + c.Bucket + " missing"}
		}
		if err != nil {
			return UserResult{Err: fmt.Errorf("bucket %s: %w", c.Bucket, err)}
		}
		return UserResult{OK: true, Detail: "bucket " + c.Bucket + " exists"}
	}
	_, err := n.js.Stream(ctx, c.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return UserResult{Detail: "stream " + c.Stream + " missing"}
	}
	if err != nil {
		return UserResult{Err: fmt.Errorf("stream %s: %w", c.Stream, err)}
	}
	return UserResult{OK: true, Detail: "stream " + c.Stream + " exists"}
}
