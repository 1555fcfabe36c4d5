package history

import (
	"errors"
	"time"

	"github.com/chaosd/chaosd/probes"
)

// Constructors: each wraps one payload in an Event of the right type. A zero time
// is stamped by the Writer.

// MetaEvent wraps m.
func MetaEvent(m Meta) Event { return Event{Type: TypeMeta, Meta: &m} }

// OpEvent wraps o.
func OpEvent(o Op) Event { return Event{Type: TypeOp, Op: &o} }

// WatchEvent wraps w.
func WatchEvent(w Watch) Event { return Event{Type: TypeWatch, Watch: &w} }

// FaultEvent wraps f.
func FaultEvent(f Fault) Event { return Event{Type: TypeFault, Fault: &f} }

// DockerEvent wraps d.
func DockerEvent(d Docker) Event { return Event{Type: TypeDocker, Docker: &d} }

// ProbeEvent wraps p, taken at at.
func ProbeEvent(p Probe, at time.Time) Event { return Event{Type: TypeProbe, Time: at, Probe: &p} }

// Conversions from the probes package's readings.

// OrderOf turns a probes.Tally's arrival order into an Order.
func OrderOf(indexes []int) Order {
	var o Order
	for _, i := range indexes {
		if i >= 1 {
			o.Add(i)
		}
	}
	return o
}

// WatchOf fills the chunk fields of w from a tally (nil: nothing seen) and the
// error that ended the stream.
func WatchOf(w Watch, t *probes.Tally, err error) Watch {
	if t != nil {
		w.Order = OrderOf(t.Order)
		w.Foreign = len(t.Foreign)
		if len(t.Foreign) > 0 {
			w.FirstFgn = t.Foreign[0]
		}
		w.Finished = t.Finished
		w.Restarts = append([]int(nil), t.Restarts...)
		w.Chunks = t.Grammar.String()
		if t.Error != "" {
			w.Err = "error chunk: " + t.Error
		}
	}
	if err != nil {
		w.Err = err.Error()
	}
	return w
}

// ThreadProbe is a Postgres reading of a run's thread; err makes it unobserved.
func ThreadProbe(run, thread string, st probes.ThreadState, err error) Probe {
	p := Probe{Kind: ProbeThread, Run: run, Thread: thread}
	if err != nil {
		p.Err = err.Error()
		return p
	}
	p.ThreadState = &ThreadState{Status: st.Status, Owner: st.Owner}
	return p
}

// BufferProbe is a NATS reading of a run's buffer; err makes it unobserved.
func BufferProbe(run, thread string, b probes.Buffer, err error) Probe {
	p := Probe{Kind: ProbeBuffer, Run: run, Thread: thread}
	if err != nil {
		p.Err = err.Error()
		return p
	}
	p.Buffer = &Buffer{Messages: b.Messages, FirstSeq: b.FirstSeq, LastSeq: b.LastSeq, TextDeltas: b.TextDeltas, Done: b.Done,
		Sentinels: b.Sentinels, AfterDone: b.AfterDone, FirstAfterDone: b.FirstAfterDone, Finishes: b.Finishes}
	return p
}

// HeartbeatsProbe is a NATS reading of the heartbeat bucket. probes.ErrNoBucket is
// an observation (the bucket is missing); any other error makes it unobserved.
func HeartbeatsProbe(hs []probes.Heartbeat, err error) Probe {
	p := Probe{Kind: ProbeHeartbeats}
	switch {
	case errors.Is(err, probes.ErrNoBucket):
		p.Heartbeats = &Heartbeats{Bucket: false}
	case err != nil:
		p.Err = err.Error()
	default:
		p.Heartbeats = &Heartbeats{Bucket: true}
		for _, h := range hs {
			p.Heartbeats.Keys = append(p.Heartbeats.Keys, HeartbeatKey{Pod: h.Pod, Age: Duration(h.Age)})
		}
	}
	return p
}

// ReadyProbe is a readiness reading of the pod named pod (r.Pod may be its URL).
func ReadyProbe(pod string, r probes.Readiness) Probe {
	return Probe{Kind: ProbeReady, Pod: pod, Ready: &Ready{Ready: r.Ready, Status: r.Status, Postgres: r.Postgres, NATS: r.NATS, Err: r.Err}}
}

// DependencyProbe is chaosd's reach to a dependency: up when err is nil.
func DependencyProbe(name string, err error) Probe {
	d := &Dependency{Name: name, Up: err == nil}
	if err != nil {
		d.Err = err.Error()
	}
	return Probe{Kind: ProbeDependency, Pod: name, Dependency: d}
}

// MessagesProbe is a Postgres reading of a run's persisted reply: the text of each
// assistant message persisted for the run, in order (none: an empty or nil slice).
// Take it after the run was decided (its thread read completed); err makes it
// unobserved.
func MessagesProbe(run, thread string, replies []string, err error) Probe {
	p := Probe{Kind: ProbeMessages, Run: run, Thread: thread}
	if err != nil {
		p.Err = err.Error()
		return p
	}
	p.Messages = &Messages{Replies: append([]string{}, replies...)}
	return p
}
