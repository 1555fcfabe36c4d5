package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/chaosd/chaosd/invariants"
)

type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Body    string `xml:",chardata"`
}

// WriteJUnit writes one test case per invariant: a fail is a failure; unknown and
// not-exercised are failures too (never a pass), marked as such in the message;
// not-promised (the mesh does not promise what was observed: never a pass, never a
// fail) is skipped, with what was not promised in its message. chaosd's exit code
// (2) still says that the run was not a pass.
func WriteJUnit(w io.Writer, d *Data) error {
	s := junitSuite{Name: "chaosd invariants", Time: fmt.Sprintf("%.3f", d.To.Sub(d.From).Seconds())}
	for _, v := range d.Verdicts.Verdicts {
		c := junitCase{Name: v.Name, Classname: "chaosd.invariants",
			SystemOut: fmt.Sprintf("checked %d, under fault %d, violated %d, unknown %d", v.Checks, v.UnderFault, v.Violations, v.Unknowns)}
		if v.NotPromised > 0 {
			c.SystemOut += fmt.Sprintf(", not promised %d", v.NotPromised)
		}
		switch v.Status {
		case invariants.Pass:
		case invariants.NotPromised:
			c.Skipped = &junitMessage{Message: string(v.Status) + ": " + v.Message(), Body: findings(v)}
			s.Skipped++
		default:
			c.Failure = &junitMessage{Message: string(v.Status) + ": " + v.Message(), Body: findings(v)}
			s.Failures++
		}
		s.Cases = append(s.Cases, c)
		s.Tests++
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(junitSuites{Suites: []junitSuite{s}}); err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func findings(v invariants.Verdict) string {
	var b strings.Builder
	for _, f := range append(append([]invariants.Finding{}, v.Evidence...), v.Unobserved...) {
		b.WriteString(f.String())
		b.WriteByte('\n')
	}
	for _, n := range v.Notes {
		b.WriteString("note: " + n + "\n")
	}
	return b.String()
}
