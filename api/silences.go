package api

import (
	"net/http"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/labstack/echo/v4"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/storage"
)

// objectSilence names silences in config changes.
const objectSilence = "silence"

// silenceRequest is the body of a silence create or update. A client may
// send back a silence as it read it: the read-only fields are accepted and
// ignored.
type silenceRequest struct {
	Matchers []string       `json:"matchers"`
	StartsAt jsontext.Value `json:"starts_at"`
	EndsAt   jsontext.Value `json:"ends_at"`
	Comment  string         `json:"comment"`
	Version  int64          `json:"version"`

	ID          jsontext.Value `json:"id"`
	State       jsontext.Value `json:"state"`
	CreatedBy   jsontext.Value `json:"created_by"`
	CreatedByID jsontext.Value `json:"created_by_id"`
	CreatedAt   jsontext.Value `json:"created_at"`
	UpdatedAt   jsontext.Value `json:"updated_at"`
}

// silence returns the silence the request describes, with the given ID and
// version, checked at now. ends_at is required. starts_at left out (or null)
// means now on create; an update replaces the whole silence, so there it is
// required, lest leaving it out move the start by accident.
func (r silenceRequest) silence(id, version int64, now func() time.Time) (alerts.Silence, error) {
	matchers, err := alerts.ParseMatcherList("matchers", r.Matchers)
	if err != nil {
		return alerts.Silence{}, err
	}
	starts, err := timeField("starts_at", r.StartsAt)
	if err != nil {
		return alerts.Silence{}, err
	}
	ends, err := timeField("ends_at", r.EndsAt)
	if err != nil {
		return alerts.Silence{}, err
	}
	if ends.IsZero() {
		return alerts.Silence{}, alerts.Invalid("ends_at", "is required: say when the silence ends")
	}
	at := now()
	switch {
	case starts.IsZero() && id != 0:
		return alerts.Silence{}, alerts.Invalid("starts_at", "is required on update: send the start you read")
	case starts.IsZero():
		starts = at
	}
	s := alerts.Silence{ID: id, Matchers: matchers, StartsAt: starts, EndsAt: ends, Comment: r.Comment, Version: version}
	return s, s.Validate(at)
}

// silenceView is a silence as the API shows it: with its state at the
// moment of the answer.
type silenceView struct {
	alerts.Silence
	State alerts.SilenceState `json:"state"`
}

// view returns sil as the API shows it now.
func (s *Server) view(sil alerts.Silence) silenceView {
	return silenceView{Silence: sil, State: sil.StateAt(s.now())}
}

func silenceViewID(v silenceView) int64 { return v.ID }

// listSilences answers a page of silences by ID, those in the ?state=
// (pending, active or expired) when it is given.
func (s *Server) listSilences(c echo.Context) error {
	page, err := pageQuery(c)
	if err != nil {
		return err
	}
	var f storage.SilenceFilter
	switch q := alerts.SilenceState(c.QueryParam("state")); q {
	case "", alerts.SilencePending, alerts.SilenceActive, alerts.SilenceExpired:
		f.State = q
	default:
		return alerts.Invalid("state", `must be "pending", "active" or "expired", got %q`, q)
	}
	silences, err := s.store.Silences(c.Request().Context(), f, page)
	if err != nil {
		return err
	}
	views := make([]silenceView, len(silences))
	for i, sil := range silences {
		views[i] = s.view(sil)
	}
	return c.JSON(http.StatusOK, newListPage(views, page, silenceViewID))
}

// createSilence adds a silence.
func (s *Server) createSilence(c echo.Context) error {
	var req silenceRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	sil, err := req.silence(0, 0, s.now)
	if err != nil {
		return err
	}
	if sil, err = s.store.CreateSilence(c.Request().Context(), actor(c), sil); err != nil {
		return err
	}
	s.apply(c, objectSilence, sil.ID, storage.ActionCreate, sil.Version)
	return answerObject(c, http.StatusCreated, s.view(sil), sil.Version)
}

// getSilence answers one silence.
func (s *Server) getSilence(c echo.Context) error {
	sil, err := readObject(c, s.store.Silence)
	if err != nil {
		return err
	}
	return answerObject(c, http.StatusOK, s.view(sil), sil.Version)
}

// updateSilence replaces a silence that has not expired, at the version it
// names. Its author stays who created it.
func (s *Server) updateSilence(c echo.Context) error {
	var req silenceRequest
	id, version, err := decodeUpdate(c, &req, &req.Version)
	if err != nil {
		return err
	}
	sil, err := req.silence(id, version, s.now)
	if err != nil {
		return err
	}
	if sil, err = s.store.UpdateSilence(c.Request().Context(), actor(c), sil); err != nil {
		return err
	}
	s.apply(c, objectSilence, sil.ID, storage.ActionUpdate, sil.Version)
	return answerObject(c, http.StatusOK, s.view(sil), sil.Version)
}

// expireRequest is the optional body of POST /silences/{id}/expire.
type expireRequest struct {
	Version int64 `json:"version"`
}

// expireSilence ends a silence now. The version, in an optional body or
// If-Match, makes it conditional.
func (s *Server) expireSilence(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var req expireRequest
	if hasBody(c) {
		if err := decodeJSON(c, &req); err != nil {
			return err
		}
	}
	version, err := expectedVersion(c, req.Version)
	if err != nil {
		return err
	}
	sil, err := s.store.ExpireSilence(c.Request().Context(), actor(c), id, version)
	if err != nil {
		return err
	}
	s.apply(c, objectSilence, sil.ID, changeExpire, sil.Version)
	return answerObject(c, http.StatusOK, s.view(sil), sil.Version)
}

// deleteSilence erases a silence, where expiring it would keep it on record.
func (s *Server) deleteSilence(c echo.Context) error {
	return s.deleteObject(c, objectSilence, s.store.DeleteSilence)
}
