package alerts_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/alerts"
)

// fixedRouter routes every label set to users, silenced or not.
type fixedRouter struct {
	users    []int64
	silenced bool
}

func (r fixedRouter) Resolve(alerts.Labels) ([]int64, bool) { return slices.Clone(r.users), r.silenced }

var (
	lifeStart = time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
	lifeNow   = lifeStart.Add(10 * time.Minute)
)

// firing is a firing event from source "am".
func firing(annotations map[string]string) alerts.Event {
	ls := alerts.Labels{"alertname": "HighLatency", "service": "checkout"}
	return alerts.Event{Fingerprint: ls.Fingerprint(), Labels: ls, Annotations: annotations, Status: alerts.StatusFiring,
		StartsAt: lifeStart, GeneratorURL: "http://prom/graph", Source: "am"}
}

// openAlert is the alert that firing opened, as stored.
func openAlert(state alerts.State, silenced bool) *alerts.Alert {
	ev := firing(map[string]string{"summary": "slow"})
	return &alerts.Alert{ID: 7, Fingerprint: ev.Fingerprint, State: state, Labels: ev.Labels, Annotations: ev.Annotations,
		Source: "am", GeneratorURL: ev.GeneratorURL, Silenced: silenced, StartsAt: lifeStart, LastSeenAt: lifeStart, Count: 1,
		CreatedAt: lifeStart, UpdatedAt: lifeStart}
}

// kinds lists the kinds of history entries.
func kinds(h []alerts.HistoryEntry) []alerts.HistoryKind {
	var ks []alerts.HistoryKind
	for _, e := range h {
		ks = append(ks, e.Kind)
	}
	return ks
}

func TestReceive(t *testing.T) {
	routed := fixedRouter{users: []int64{1, 2}}
	silenced := fixedRouter{users: []int64{1, 2}, silenced: true}
	resolved := firing(nil)
	resolved.Status, resolved.EndsAt = alerts.StatusResolved, lifeNow.Add(-time.Minute)
	tests := []struct {
		name    string
		open    *alerts.Alert
		ev      alerts.Event
		r       alerts.Router
		outcome alerts.Outcome
		history []alerts.HistoryKind
		notify  alerts.NotificationEvent
		check   func(t *testing.T, a *alerts.Alert)
	}{
		{
			name: "a firing with no open alert opens one and notifies the routed users",
			ev:   firing(map[string]string{"summary": "slow"}), r: routed,
			outcome: alerts.OutcomeFired, history: []alerts.HistoryKind{alerts.HistoryFired}, notify: alerts.NotifyFired,
			check: func(t *testing.T, a *alerts.Alert) {
				if a.State != alerts.StateFiring || a.Count != 1 || !a.StartsAt.Equal(lifeStart) || !a.LastSeenAt.Equal(lifeNow) || a.Source != "am" {
					t.Errorf("opened alert = %+v", a)
				}
			},
		},
		{
			name: "a silenced firing opens a silenced alert and notifies nobody",
			ev:   firing(nil), r: silenced,
			outcome: alerts.OutcomeFired, history: []alerts.HistoryKind{alerts.HistoryFired, alerts.HistorySilenced},
			check: func(t *testing.T, a *alerts.Alert) {
				if !a.Silenced {
					t.Error("alert not marked silenced")
				}
			},
		},
		{
			name: "a firing without a start time starts now",
			ev:   func() alerts.Event { e := firing(nil); e.StartsAt = time.Time{}; return e }(), r: routed,
			outcome: alerts.OutcomeFired, history: []alerts.HistoryKind{alerts.HistoryFired}, notify: alerts.NotifyFired,
			check: func(t *testing.T, a *alerts.Alert) {
				if !a.StartsAt.Equal(lifeNow) {
					t.Errorf("StartsAt = %v, want now %v", a.StartsAt, lifeNow)
				}
			},
		},
		{
			name: "a repeated firing counts, and writes no history when nothing else changed",
			open: openAlert(alerts.StateFiring, false), ev: firing(map[string]string{"summary": "slow"}), r: routed,
			outcome: alerts.OutcomeRepeated,
			check: func(t *testing.T, a *alerts.Alert) {
				if a.Count != 2 || !a.LastSeenAt.Equal(lifeNow) || a.ID != 7 {
					t.Errorf("repeated alert = %+v", a)
				}
			},
		},
		{
			name: "a repeated firing with new annotations is an update",
			open: openAlert(alerts.StateAcknowledged, false), ev: firing(map[string]string{"summary": "slower"}), r: routed,
			outcome: alerts.OutcomeRepeated, history: []alerts.HistoryKind{alerts.HistoryUpdated},
			check: func(t *testing.T, a *alerts.Alert) {
				if a.Annotations["summary"] != "slower" || a.State != alerts.StateAcknowledged {
					t.Errorf("updated alert = %+v", a)
				}
			},
		},
		{
			name: "a repeated firing of a silenced alert no silence covers now unsilences it and notifies",
			open: openAlert(alerts.StateFiring, true), ev: firing(map[string]string{"summary": "slow"}), r: routed,
			outcome: alerts.OutcomeRepeated, history: []alerts.HistoryKind{alerts.HistoryUnsilenced}, notify: alerts.NotifyFired,
		},
		{
			name: "an acknowledged alert unsilenced notifies nobody: someone has it",
			open: openAlert(alerts.StateAcknowledged, true), ev: firing(map[string]string{"summary": "slow"}), r: routed,
			outcome: alerts.OutcomeRepeated, history: []alerts.HistoryKind{alerts.HistoryUnsilenced},
		},
		{
			name: "a repeated firing a silence covers now marks it silenced",
			open: openAlert(alerts.StateFiring, false), ev: firing(map[string]string{"summary": "slow"}), r: silenced,
			outcome: alerts.OutcomeRepeated, history: []alerts.HistoryKind{alerts.HistorySilenced},
		},
		{
			name: "a resolve ends the open alert at the sender's end time",
			open: openAlert(alerts.StateFiring, false), ev: resolved, r: routed,
			outcome: alerts.OutcomeResolved, history: []alerts.HistoryKind{alerts.HistoryResolved}, notify: alerts.NotifyResolved,
			check: func(t *testing.T, a *alerts.Alert) {
				if a.State != alerts.StateResolved || !a.EndsAt.Equal(resolved.EndsAt) || !a.ResolvedAt.Equal(lifeNow) || a.ResolvedBy != "source:am" ||
					!a.LastSeenAt.Equal(lifeStart) {
					t.Errorf("resolved alert = %+v", a)
				}
			},
		},
		{
			name: "a resolve with an end time in the future ends now",
			open: openAlert(alerts.StateFiring, false),
			ev:   func() alerts.Event { e := resolved; e.EndsAt = lifeNow.Add(time.Hour); return e }(), r: routed,
			outcome: alerts.OutcomeResolved, history: []alerts.HistoryKind{alerts.HistoryResolved}, notify: alerts.NotifyResolved,
			check: func(t *testing.T, a *alerts.Alert) {
				if !a.EndsAt.Equal(lifeNow) {
					t.Errorf("EndsAt = %v, want now", a.EndsAt)
				}
			},
		},
		{
			name: "a resolve for no open alert is ignored",
			ev:   resolved, r: routed, outcome: alerts.OutcomeIgnored,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before alerts.Alert
			if tt.open != nil {
				before = *tt.open
			}
			s := alerts.Receive(tt.open, tt.ev, tt.r, lifeNow)
			if s.Outcome != tt.outcome {
				t.Errorf("outcome = %q, want %q", s.Outcome, tt.outcome)
			}
			if got := kinds(s.History); !slices.Equal(got, tt.history) {
				t.Errorf("history = %v, want %v", got, tt.history)
			}
			if s.Notify != tt.notify {
				t.Errorf("notify = %q, want %q", s.Notify, tt.notify)
			}
			if tt.open != nil && (tt.open.Count != before.Count || tt.open.State != before.State) {
				t.Errorf("Receive changed the open alert it was given: %+v", tt.open)
			}
			if tt.outcome == alerts.OutcomeIgnored {
				if s.Alert != nil {
					t.Errorf("ignored event has an alert: %+v", s.Alert)
				}
				return
			}
			if s.Opened != (tt.open == nil) {
				t.Errorf("Opened = %v, want %v", s.Opened, tt.open == nil)
			}
			for _, e := range s.History {
				if e.Actor != "source:am" || !e.At.Equal(lifeNow) {
					t.Errorf("history entry %+v, want actor source:am at now", e)
				}
			}
			if tt.check != nil {
				tt.check(t, s.Alert)
			}
		})
	}
}

func TestAct(t *testing.T) {
	r := fixedRouter{users: []int64{2, 3}}
	ack := alerts.Action{AlertID: 7, Kind: alerts.ActionAck, UserID: 5, User: "ana"}
	resolve := alerts.Action{AlertID: 7, Kind: alerts.ActionResolve, UserID: 5, User: "ana"}
	tests := []struct {
		name     string
		state    alerts.State
		act      alerts.Action
		want     alerts.State
		notify   alerts.NotificationEvent
		conflict bool
	}{
		{"ack a firing alert", alerts.StateFiring, ack, alerts.StateAcknowledged, alerts.NotifyAcknowledged, false},
		{"resolve a firing alert", alerts.StateFiring, resolve, alerts.StateResolved, alerts.NotifyResolved, false},
		{"resolve an acknowledged alert", alerts.StateAcknowledged, resolve, alerts.StateResolved, alerts.NotifyResolved, false},
		{"ack an acknowledged alert", alerts.StateAcknowledged, ack, "", "", true},
		{"ack a resolved alert", alerts.StateResolved, ack, "", "", true},
		{"resolve a resolved alert", alerts.StateResolved, resolve, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := alerts.Act(*openAlert(tt.state, false), tt.act, r, lifeNow)
			if tt.conflict {
				var e *alerts.Error
				if !errors.Is(err, alerts.ErrConflict) || !errors.As(err, &e) || e.Field != "state" {
					t.Fatalf("err = %v, want a conflict on state", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Alert.State != tt.want || s.Notify != tt.notify || !slices.Equal(s.Routed, r.users) {
				t.Errorf("step = state %q notify %q routed %v, want %q %q %v", s.Alert.State, s.Notify, s.Routed, tt.want, tt.notify, r.users)
			}
			if len(s.History) != 1 || s.History[0].Actor != "ana" || s.History[0].ActorID != 5 {
				t.Errorf("history = %+v, want one entry by ana (5)", s.History)
			}
			if tt.want == alerts.StateAcknowledged && (s.Alert.AckedBy != "ana" || s.Alert.AckedAt == nil) {
				t.Errorf("acked alert = %+v", s.Alert)
			}
			if tt.want == alerts.StateResolved && (s.Alert.ResolvedBy != "ana" || s.Alert.EndsAt == nil || !s.Alert.EndsAt.Equal(lifeNow)) {
				t.Errorf("resolved alert = %+v", s.Alert)
			}
		})
	}
	t.Run("a silenced alert's action reaches only those told before", func(t *testing.T) {
		s, err := alerts.Act(*openAlert(alerts.StateFiring, true), ack, fixedRouter{users: []int64{2, 3}, silenced: true}, lifeNow)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Recipients([]int64{9}); !slices.Equal(got, []int64{9}) {
			t.Errorf("recipients = %v, want [9]", got)
		}
	})
}

func TestRecipients(t *testing.T) {
	tests := []struct {
		name       string
		notify     alerts.NotificationEvent
		routed     []int64
		toldBefore []int64
		want       []int64
	}{
		{"no notification, nobody", "", []int64{1}, nil, nil},
		{"fired reaches routed users not told yet", alerts.NotifyFired, []int64{1, 2, 3}, []int64{2}, []int64{1, 3}},
		{"resolved reaches everyone told and routed, each once", alerts.NotifyResolved, []int64{1, 4}, []int64{1, 2}, []int64{1, 2, 4}},
		{"acknowledged with nobody routed reaches those told", alerts.NotifyAcknowledged, nil, []int64{3}, []int64{3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := alerts.Step{Notify: tt.notify, Routed: tt.routed}.Recipients(tt.toldBefore)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Recipients(%v) = %v, want %v", tt.toldBefore, got, tt.want)
			}
		})
	}
}
