package api

import (
	"fmt"
	"net/http"
	"time"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/labstack/echo/v4"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/auth"
)

// tokenRequest is the body of a token create or update. UserID, on create,
// names the owner (the caller when 0); on update it may only repeat the
// owner. Read-only fields are accepted and ignored.
type tokenRequest struct {
	UserID    int64          `json:"user_id"`
	Name      string         `json:"name"`
	ExpiresAt jsontext.Value `json:"expires_at"`
	Version   int64          `json:"version"`

	ID        jsontext.Value `json:"id"`
	CreatedAt jsontext.Value `json:"created_at"`
}

// expiry parses the request's expires_at: null means never. When the field
// is absent it means never too, unless required: an update replaces the
// whole token, so leaving expires_at out must not clear it by accident.
func (r tokenRequest) expiry(required bool) (*time.Time, error) {
	if len(r.ExpiresAt) == 0 && required {
		return nil, alerts.Invalid("expires_at", "is required on update: send the expiry you read, or null for never")
	}
	if len(r.ExpiresAt) == 0 || string(r.ExpiresAt) == "null" {
		return nil, nil
	}
	bad := alerts.Invalid("expires_at", "must be null or an RFC 3339 time such as 2027-01-31T00:00:00Z")
	var s string
	if err := json.Unmarshal(r.ExpiresAt, &s); err != nil {
		return nil, bad
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil, bad
	}
	return &t, nil
}

// createdToken is the create response: the token's metadata and, this once,
// the token itself.
type createdToken struct {
	auth.Token
	Secret string `json:"token"`
}

func tokenID(t auth.Token) int64 { return t.ID }

// listTokens answers a page of tokens: an admin's of everyone (or of
// ?user_id=), a responder's of its own.
func (s *Server) listTokens(c echo.Context) error {
	page, err := pageQuery(c)
	if err != nil {
		return err
	}
	owner, err := queryID(c, "user_id")
	if err != nil {
		return err
	}
	if me := caller(c); !me.IsAdmin() {
		if owner != 0 && owner != me.ID {
			return mayActFor(c, owner)
		}
		owner = me.ID
	}
	tokens, err := s.store.Tokens(c.Request().Context(), owner, page)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newListPage(tokens, page, tokenID))
}

// createToken issues a token and answers it once.
func (s *Server) createToken(c echo.Context) error {
	var req tokenRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.UserID < 0 {
		return alerts.Invalid("user_id", "must be a positive integer, got %d", req.UserID)
	}
	if req.UserID == 0 {
		req.UserID = caller(c).ID
	}
	if err := mayActFor(c, req.UserID); err != nil {
		return err
	}
	expires, err := req.expiry(false)
	if err != nil {
		return err
	}
	secret, hash, err := auth.NewToken()
	if err != nil {
		return err
	}
	t, err := s.store.CreateToken(c.Request().Context(), actor(c),
		auth.Token{UserID: req.UserID, Name: req.Name, ExpiresAt: expires, Hash: hash})
	if err != nil {
		return err
	}
	return answerObject(c, http.StatusCreated, createdToken{Token: t, Secret: secret}, t.Version)
}

// ownToken loads the token of the path's ID, if the caller may see it.
// Another user's token is not found, as a missing one is, so that a
// responder cannot probe which token IDs exist.
func (s *Server) ownToken(c echo.Context) (auth.Token, error) {
	id, err := pathID(c)
	if err != nil {
		return auth.Token{}, err
	}
	t, err := s.store.Token(c.Request().Context(), id)
	if err == nil && mayActFor(c, t.UserID) != nil {
		err = alerts.NotFound(fmt.Sprintf("token %d", id))
	}
	return t, err
}

// getToken answers one token's metadata.
func (s *Server) getToken(c echo.Context) error {
	t, err := s.ownToken(c)
	if err != nil {
		return err
	}
	return answerObject(c, http.StatusOK, t, t.Version)
}

// updateToken replaces a token's name and expiry, at the version it names.
func (s *Server) updateToken(c echo.Context) error {
	t, err := s.ownToken(c)
	if err != nil {
		return err
	}
	var req tokenRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.UserID != 0 && req.UserID != t.UserID {
		return alerts.Invalid("user_id", "a token's owner cannot change")
	}
	version, err := requiredVersion(c, req.Version)
	if err != nil {
		return err
	}
	expires, err := req.expiry(true)
	if err != nil {
		return err
	}
	t.Name, t.ExpiresAt, t.Version = req.Name, expires, version
	t, err = s.store.UpdateToken(c.Request().Context(), actor(c), t)
	if err != nil {
		return err
	}
	return answerObject(c, http.StatusOK, t, t.Version)
}

// deleteToken revokes a token, and closes the WebSockets opened with it.
func (s *Server) deleteToken(c echo.Context) error {
	t, err := s.ownToken(c)
	if err != nil {
		return err
	}
	version, err := expectedVersion(c, 0)
	if err != nil {
		return err
	}
	if err := s.store.DeleteToken(c.Request().Context(), actor(c), t.ID, version); err != nil {
		return err
	}
	if s.push != nil {
		s.push.CloseToken(t.ID)
	}
	return c.NoContent(http.StatusNoContent)
}
