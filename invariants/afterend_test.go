package invariants

import (
	"testing"
	"time"

	"github.com/chaosd/chaosd/history"
)

// endBuffer is a reading of r1's buffer.
func (h *hist) endBuffer(b history.Buffer) *hist {
	return h.add(history.ProbeEvent(history.Probe{Kind: history.ProbeBuffer, Run: "r1", Thread: "t-r1", Buffer: &b}, h.now))
}

// ended is r1's buffer once it ended: 23 messages, its sentinel last.
var ended = history.Buffer{Messages: 23, FirstSeq: 1, LastSeq: 23, TextDeltas: 20, Done: true, Sentinels: 1, Finishes: 1}

// zombie is r1's buffer after mesh-1 woke and wrote on: five messages after the
// sentinel, the first stored at 15.3 s, a second finish and a second sentinel.
var zombie = history.Buffer{Messages: 28, FirstSeq: 1, LastSeq: 28, TextDeltas: 23, Done: true, Sentinels: 2, Finishes: 2,
	AfterDone: 5, FirstAfterDone: sec(15.3)}

// endRunOn writes run r1 started on mesh-1 at 1 s with a settle window (nil: not
// recorded), owned by mesh-1 until 9 s and by mesh-2 after (its takeover), completed
// at 12 s, its buffer read every second from 12 s to until (buf gives each reading;
// a zero Buffer with Err is a failed one).
func endRunOn(h *hist, settle *time.Duration, until float64, buf func(s float64) (history.Buffer, string)) {
	h.at(1).start("r1", "mesh-1", 20, 5*time.Second)
	if settle != nil {
		h.settle(*settle)
	}
	for s := 2.0; s < 12; s++ {
		owner := "mesh-1"
		if s >= 9 {
			owner = "mesh-2"
		}
		h.at(s).thread("r1", history.StatusInProgress, owner)
		h.endBuffer(history.Buffer{Messages: uint64(2 * s), FirstSeq: 1, LastSeq: uint64(2 * s), TextDeltas: int(2*s) - 2})
	}
	h.at(12).thread("r1", history.StatusCompleted, "")
	for s := 12.0; s <= until; s++ {
		b, err := buf(s)
		if err != "" {
			h.at(s).add(history.ProbeEvent(history.Probe{Kind: history.ProbeBuffer, Run: "r1", Thread: "t-r1", Err: err}, sec(s)))
			continue
		}
		h.at(s).endBuffer(b)
	}
}

// pauseOwner pauses mesh-1 (r1's owner) from 3 s and heals it at 15 s.
func pauseOwner(h *hist) {
	h.at(3).fault("f1", history.FaultIntent, history.KindPause, "mesh-1", "r1").fault("f1", history.FaultInjected, history.KindPause, "mesh-1", "r1")
	h.at(15).fault("f1", history.FaultHealed, history.KindPause, "mesh-1", "r1")
}

func dur(d time.Duration) *time.Duration { return &d }

func always(b history.Buffer) func(float64) (history.Buffer, string) {
	return func(float64) (history.Buffer, string) { return b, "" }
}

func TestNoWriteAfterEnd(t *testing.T) {
	for _, tc := range []struct {
		name     string
		build    func(h *hist)
		st       Status
		checks   int
		under    int
		mentions []string
	}{{
		name:   "clean: read to the end of the window, the sentinel last",
		build:  func(h *hist) { endRunOn(h, dur(8*time.Second), 20, always(ended)) },
		st:     Pass,
		checks: 1,
	}, {
		name: "clean under a pause: the woken owner stops at its fence",
		build: func(h *hist) {
			pauseOwner(h)
			endRunOn(h, dur(8*time.Second), 23, always(ended))
		},
		st: Pass, checks: 1, under: 1,
	}, {
		name: "a late write after a pause",
		build: func(h *hist) {
			pauseOwner(h)
			endRunOn(h, dur(8*time.Second), 23, func(s float64) (history.Buffer, string) {
				if s < 16 {
					return ended, ""
				}
				return zombie, ""
			})
		},
		st: Fail, checks: 1, under: 1,
		mentions: []string{
			"12:00:16.000  run r1: 5 messages after its end sentinel, a second end sentinel among them (2 finish chunks in the buffer); " +
				"the first stored by JetStream at 12:00:15.300, 3.3s after the run was decided (12:00:12.000); read at 12:00:16.000 (seq 1-28). " +
				"Writer: likely mesh-1, its owner until 12:00:09.000, paused 12:00:03.000-12:00:15.000 (fault f1), woke 300ms before the first late write; " +
				"inferred: the buffer names no writer",
			"NATS buffer: ", "28 msgs seq 1-28, 23 deltas, done (2 sentinels), 2 finishes, 5 after the end (the first stored 12:00:15.300)",
		},
	}, {
		name: "a second sentinel, and no fault to put it down to",
		build: func(h *hist) {
			endRunOn(h, dur(8*time.Second), 20, func(s float64) (history.Buffer, string) {
				if s < 18 {
					return ended, ""
				}
				b := ended
				b.Messages, b.LastSeq, b.Sentinels, b.AfterDone, b.FirstAfterDone = 24, 24, 2, 1, sec(17.5)
				return b, ""
			})
		},
		st: Fail, checks: 1,
		mentions: []string{"run r1: 1 message after its end sentinel, a second end sentinel among them; the first stored by JetStream at 12:00:17.500, 5.5s after the run was decided",
			"Writer: the history cannot say which pod wrote it: the buffer names no writer, and no pod that owned the run was healed from a chaosd pause or partition within 55s before the first late write"},
	}, {
		name: "a fault healed long before the late write is not the writer",
		build: func(h *hist) {
			pauseOwner(h)
			endRunOn(h, dur(80*time.Second), 95, func(s float64) (history.Buffer, string) {
				if s < 90 {
					return ended, ""
				}
				b := zombie
				b.FirstAfterDone = sec(89)
				return b, ""
			})
		},
		st: Fail, checks: 1, under: 1,
		mentions: []string{"Writer: the history cannot say which pod wrote it"},
	}, {
		name: "purged at the end, as mesh does, and nothing written since: a pass",
		build: func(h *hist) {
			endRunOn(h, dur(8*time.Second), 20, func(s float64) (history.Buffer, string) {
				if s < 17 {
					return ended, ""
				}
				return history.Buffer{}, ""
			})
		},
		st: Pass, checks: 1,
	}, {
		name: "purged at the end, sentinel never read, and a woken owner writes after: a violation",
		build: func(h *hist) {
			pauseOwner(h)
			endRunOn(h, dur(8*time.Second), 23, func(s float64) (history.Buffer, string) {
				switch {
				case s < 16:
					return history.Buffer{}, ""
				}
				return history.Buffer{Messages: 4, FirstSeq: 31, LastSeq: 34, TextDeltas: 3}, ""
			})
		},
		st: Fail, checks: 1, under: 1,
		mentions: []string{"run r1: 4 messages after its end sentinel", "read at 12:00:16.000 (seq 31-34)"},
	}, {
		name: "the window waits for the heal: a reading at decision + settle before heal + settle is not the last",
		build: func(h *hist) {
			pauseOwner(h) // healed at 15 s; decided at 12 s; settle 4 s: due at 19 s, not 16 s
			endRunOn(h, dur(4*time.Second), 17, always(ended))
		},
		st:       NotExercised,
		mentions: []string{"1 cut short by chaosd's stop"},
	}, {
		name: "never showed the sentinel, never purged: no case",
		build: func(h *hist) {
			endRunOn(h, dur(8*time.Second), 20, always(history.Buffer{Messages: 22, FirstSeq: 1, LastSeq: 22, TextDeltas: 20}))
		},
		st:       NotExercised,
		mentions: []string{"0 purged or expired, 1 never showed the sentinel"},
	}, {
		name:     "no settle recorded (an older history): not recorded, never a pass",
		build:    func(h *hist) { endRunOn(h, nil, 20, always(ended)) },
		st:       NotExercised,
		mentions: []string{"note: not recorded: this history's runs record no settle window"},
	}, {
		name:     "settle 0",
		build:    func(h *hist) { endRunOn(h, dur(0), 12, always(ended)) },
		st:       NotExercised,
		mentions: []string{"(1 decided: 1 with settle 0, ", "--settle=auto"},
	}, {
		name:     "settle cut short: chaosd stopped first",
		build:    func(h *hist) { endRunOn(h, dur(time.Minute), 20, always(ended)) },
		st:       NotExercised,
		mentions: []string{"1 cut short by chaosd's stop", "let chaosd run to its end"},
	}, {
		name: "settle cut short after a late write: the write is still a violation",
		build: func(h *hist) {
			pauseOwner(h)
			endRunOn(h, dur(time.Minute), 20, func(s float64) (history.Buffer, string) {
				if s < 16 {
					return ended, ""
				}
				return zombie, ""
			})
		},
		st: Fail, checks: 1, under: 1,
		mentions: []string{"run r1: 5 messages after its end sentinel", "likely mesh-1"},
	}, {
		name: "the window's last reading failed",
		build: func(h *hist) {
			endRunOn(h, dur(8*time.Second), 20, func(s float64) (history.Buffer, string) {
				if s < 20 {
					return ended, ""
				}
				return history.Buffer{}, "nats: timeout"
			})
		},
		st: Unknown, checks: 1,
		mentions: []string{"run r1: its buffer could not be read at the end of its settle window (8s after its decision at 12:00:12.000): nats: timeout",
			"the last reading of a settle window failed"},
	}, {
		name: "a settle window longer than the run's dossier lasts is still judged",
		build: func(h *hist) {
			endRunOn(h, dur(300*time.Second), 312, func(s float64) (history.Buffer, string) {
				if s < 311 {
					return ended, ""
				}
				return zombie, ""
			})
		},
		st: Fail, checks: 1,
		mentions: []string{"run r1: 5 messages after its end sentinel"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			h := &hist{}
			allBegin(h.at(0))
			tc.build(h)
			h.at(h.now.Sub(t0).Seconds() + 1).end()
			v := expect(t, h.report(Params{}), NameNoWriteAfterEnd, tc.st, tc.mentions...)
			if v.Checks != tc.checks || v.UnderFault != tc.under {
				t.Errorf("checked %d, under fault %d; want %d, %d\n%s", v.Checks, v.UnderFault, tc.checks, tc.under, dump(v))
			}
		})
	}
}

// The settle window's readings show the late write live as they do in the stored
// history: one verdict both ways.
func TestNoWriteAfterEndLiveEqualsAnalyze(t *testing.T) {
	h := &hist{}
	allBegin(h.at(0))
	pauseOwner(h)
	endRunOn(h, dur(8*time.Second), 20, func(s float64) (history.Buffer, string) {
		if s < 16 {
			return ended, ""
		}
		return zombie, ""
	})
	h.at(21).end()
	sameLiveAndAnalyzed(t, h, NameNoWriteAfterEnd, Fail)
}
