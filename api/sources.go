package api

import (
	"net/http"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/labstack/echo/v4"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/sources"
	"github.com/tocsinhq/tocsin/storage"
)

// objectSource names sources in config changes.
const objectSource = "source"

// sourceRequest is the body of a source create or update. A client may send
// back a source as it read it: the read-only fields are accepted and
// ignored. Secret is the bearer token, basic password or HMAC key: optional
// on create (tocsin makes one), and on update (the stored one is kept).
type sourceRequest struct {
	Name            string           `json:"name"`
	Kind            sources.Kind     `json:"kind"`
	Auth            sources.AuthType `json:"auth"`
	Username        string           `json:"username"`
	SignatureHeader string           `json:"signature_header"`
	Mapping         *sources.Mapping `json:"mapping"`
	Secret          string           `json:"secret"`
	Version         int64            `json:"version"`

	ID        jsontext.Value `json:"id"`
	ManagedBy jsontext.Value `json:"managed_by"`
	CreatedAt jsontext.Value `json:"created_at"`
	UpdatedAt jsontext.Value `json:"updated_at"`
}

// source returns the source the request describes, with the given ID and
// version, validated and with its defaults filled in.
func (r sourceRequest) source(id, version int64) (sources.Source, error) {
	s := sources.Source{
		ID: id, Name: r.Name, Kind: r.Kind, Auth: r.Auth, Username: r.Username,
		SignatureHeader: r.SignatureHeader, Mapping: r.Mapping, Secret: r.Secret, Version: version,
	}
	return s, s.Validate()
}

// createdSource is the create response: the source and, when tocsin made
// the secret, the secret, this once. A secret the client chose is not sent
// back: the client has it.
type createdSource struct {
	sources.Source
	Secret string `json:"secret,omitempty"`
}

func sourceID(s sources.Source) int64 { return s.ID }

// listSources answers a page of sources by ID, those of ?kind= when it is
// given.
func (s *Server) listSources(c echo.Context) error {
	page, err := pageQuery(c)
	if err != nil {
		return err
	}
	kind := sources.Kind(c.QueryParam("kind"))
	switch kind {
	case "", sources.KindAlertmanager, sources.KindGrafana, sources.KindPrometheus, sources.KindGeneric:
	default:
		return alerts.Invalid("kind", `must be "alertmanager", "grafana", "prometheus" or "generic", got %q`, kind)
	}
	list, err := s.store.Sources(c.Request().Context(), storage.SourceFilter{Kind: kind}, page)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newListPage(list, page, sourceID))
}

// createSource adds a source, with the client's secret or a new random one.
func (s *Server) createSource(c echo.Context) error {
	var req sourceRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	src, err := req.source(0, 0)
	if err != nil {
		return err
	}
	var generated string
	if src.Secret == "" {
		if generated, err = sources.NewSecret(); err != nil {
			return err
		}
		src.Secret = generated
	}
	if src, err = s.store.CreateSource(c.Request().Context(), actor(c), src); err != nil {
		return err
	}
	s.apply(c, objectSource, src.ID, storage.ActionCreate, src.Version)
	return answerObject(c, http.StatusCreated, createdSource{Source: src, Secret: generated}, src.Version)
}

// getSource answers one source, without its secret.
func (s *Server) getSource(c echo.Context) error {
	src, err := readObject(c, s.store.Source)
	if err != nil {
		return err
	}
	return answerObject(c, http.StatusOK, src, src.Version)
}

// updateSource replaces a source, at the version it names; its secret too
// when the request has one.
func (s *Server) updateSource(c echo.Context) error {
	var req sourceRequest
	id, version, err := decodeUpdate(c, &req, &req.Version)
	if err != nil {
		return err
	}
	src, err := req.source(id, version)
	if err != nil {
		return err
	}
	if src, err = s.store.UpdateSource(c.Request().Context(), actor(c), src); err != nil {
		return err
	}
	s.apply(c, objectSource, src.ID, storage.ActionUpdate, src.Version)
	return answerObject(c, http.StatusOK, src, src.Version)
}

// deleteSource deletes a source: its webhook stops taking alerts.
func (s *Server) deleteSource(c echo.Context) error {
	return s.deleteObject(c, objectSource, s.store.DeleteSource)
}
