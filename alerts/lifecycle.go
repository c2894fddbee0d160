package alerts

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// Router decides who hears of an alert with the given labels, and whether a
// silence mutes it. *Snapshot implements it.
type Router interface {
	Resolve(ls Labels) (users []int64, silenced bool)
}

// Outcome is what a received event did.
type Outcome string

// The outcomes of a received event.
const (
	// OutcomeFired: it opened a new alert.
	OutcomeFired Outcome = "fired"
	// OutcomeRepeated: it fired again for an open alert, which it updated.
	OutcomeRepeated Outcome = "repeated"
	// OutcomeResolved: it resolved an open alert.
	OutcomeResolved Outcome = "resolved"
	// OutcomeIgnored: it resolved an alert that is not open; nothing changed.
	OutcomeIgnored Outcome = "ignored"
)

// Step is what one event or action does to an alert: the alert after it,
// the entries it adds to the alert's history, and whom to notify of what.
// The store writes a step; this package decides it.
type Step struct {
	Outcome Outcome
	// Alert is the alert after the step, nil when the event was ignored. It
	// is a new value, never the one the step was decided from.
	Alert *Alert
	// Opened is whether Alert is new: it has no ID until the store gives it
	// one.
	Opened bool
	// History are the entries to add to Alert's history, in order.
	History []HistoryEntry
	// Notify is the event to notify Recipients of, or "" for none.
	Notify NotificationEvent
	// Routed are the users the rules route the alert to now, ascending;
	// none while a silence covers it.
	Routed []int64
}

// Recipients returns whom to notify of the step, ascending and each once,
// given the users told of the alert before (ascending): of a firing, the
// routed users not told of it yet; of an acknowledgement or a resolve,
// everyone told of the alert before and every routed user, so that whoever
// heard it fire hears it end.
func (s Step) Recipients(toldBefore []int64) []int64 {
	switch s.Notify {
	case "":
		return nil
	case NotifyFired:
		return slices.DeleteFunc(slices.Clone(s.Routed), func(u int64) bool {
			_, told := slices.BinarySearch(toldBefore, u)
			return told
		})
	}
	all := slices.Concat(s.Routed, toldBefore)
	slices.Sort(all)
	return slices.Compact(all)
}

// Receive decides what event ev does, at now, to open: the open alert with
// ev's fingerprint, or nil when there is none.
//
//   - A firing event with no open alert opens one, silenced if a silence
//     covers it, and notifies the routed users unless silenced.
//   - A firing event for an open alert raises its count and last-seen time,
//     takes its annotations and link (an "updated" entry when they changed),
//     and notifies nobody again; but if it was silenced and no silence
//     covers it now, it is unsilenced and the routed users are notified (of
//     an alert still firing, not yet acknowledged), and if a silence covers
//     it now it is marked silenced.
//   - A resolved event resolves an open alert and notifies everyone told of
//     it, and the routed users unless silenced; with no open alert it is
//     ignored.
func Receive(open *Alert, ev Event, r Router, now time.Time) Step {
	if open == nil && ev.Status == StatusResolved {
		return Step{Outcome: OutcomeIgnored}
	}
	users, silenced := r.Resolve(ev.Labels)
	routed := users
	if silenced {
		routed = nil
	}
	actor := SourceActor(ev.Source)
	entry := func(kind HistoryKind) HistoryEntry { return HistoryEntry{Kind: kind, At: now, Actor: actor} }

	if open == nil {
		startsAt := ev.StartsAt
		if startsAt.IsZero() {
			startsAt = now
		}
		a := &Alert{
			Fingerprint:  ev.Fingerprint,
			State:        StateFiring,
			Labels:       ev.Labels,
			Annotations:  ev.Annotations,
			Source:       ev.Source,
			GeneratorURL: ev.GeneratorURL,
			Silenced:     silenced,
			StartsAt:     startsAt,
			LastSeenAt:   now,
			Count:        1,
			CreatedAt:    now,
			UpdatedAt:    now,
		}
		s := Step{Outcome: OutcomeFired, Alert: a, Opened: true, History: []HistoryEntry{entry(HistoryFired)}, Routed: routed}
		if silenced {
			s.History = append(s.History, entry(HistorySilenced))
		} else {
			s.Notify = NotifyFired
		}
		return s
	}

	next := *open
	next.History = nil
	next.UpdatedAt = now
	s := Step{Alert: &next, Routed: routed}
	if ev.Status == StatusResolved {
		ends := ev.EndsAt
		if ends.IsZero() || ends.After(now) {
			ends = now
		}
		if ends.Before(next.StartsAt) {
			ends = next.StartsAt
		}
		next.State, next.EndsAt, next.ResolvedAt, next.ResolvedBy = StateResolved, &ends, &now, actor
		s.Outcome, s.Notify = OutcomeResolved, NotifyResolved
		s.History = append(s.History, entry(HistoryResolved))
		return s
	}

	s.Outcome = OutcomeRepeated
	next.Count++
	next.LastSeenAt = now
	if !maps.Equal(next.Annotations, ev.Annotations) || next.GeneratorURL != ev.GeneratorURL {
		next.Annotations, next.GeneratorURL = ev.Annotations, ev.GeneratorURL
		s.History = append(s.History, entry(HistoryUpdated))
	}
	switch {
	case open.Silenced && !silenced:
		next.Silenced = false
		s.History = append(s.History, entry(HistoryUnsilenced))
		if next.State == StateFiring {
			s.Notify = NotifyFired
		}
	case !open.Silenced && silenced:
		next.Silenced = true
		s.History = append(s.History, entry(HistorySilenced))
	}
	return s
}

// Act decides what act does, at now, to alert a. It returns an ErrConflict
// error on the field "state", changing nothing, when a is resolved, or is
// acknowledged already and act is an acknowledgement.
func Act(a Alert, act Action, r Router, now time.Time) (Step, error) {
	switch {
	case act.Kind != ActionAck && act.Kind != ActionResolve:
		return Step{}, Invalid("action", "must be %q or %q, got %q", ActionAck, ActionResolve, act.Kind)
	case a.State == StateResolved,
		a.State == StateAcknowledged && act.Kind == ActionAck:
		return Step{}, &Error{Kind: ErrConflict, Field: "state", Message: fmt.Sprintf("alert %d is already %s", a.ID, a.State)}
	}
	users, silenced := r.Resolve(a.Labels)
	if silenced {
		users = nil
	}
	next := a
	next.History = nil
	next.UpdatedAt = now
	entry := HistoryEntry{At: now, Actor: act.User, ActorID: act.UserID}
	s := Step{Alert: &next, Routed: users}
	if act.Kind == ActionAck {
		next.State, next.AckedBy, next.AckedByID, next.AckedAt = StateAcknowledged, act.User, act.UserID, &now
		entry.Kind, s.Notify = HistoryAcknowledged, NotifyAcknowledged
	} else {
		next.State, next.EndsAt, next.ResolvedAt, next.ResolvedBy = StateResolved, &now, &now, act.User
		entry.Kind, s.Notify = HistoryResolved, NotifyResolved
	}
	s.History = []HistoryEntry{entry}
	return s, nil
}
