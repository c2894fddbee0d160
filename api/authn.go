package api

import (
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/auth"
	"github.com/tocsinhq/tocsin/storage"
)

// userKey is the echo.Context key of the authenticated user.
const userKey = "tocsin.user"

// authenticate admits requests that carry a valid bearer token and puts its
// user in the context; others get 401.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header.Get(echo.HeaderAuthorization)
		if h == "" {
			return &alerts.Error{Kind: alerts.ErrUnauthorized, Message: "missing Authorization: Bearer token"}
		}
		token, err := bearerToken(h)
		if err != nil {
			return err
		}
		u, _, err := s.store.Authenticate(c.Request().Context(), token)
		if err != nil {
			return err
		}
		c.Set(userKey, u)
		return next(c)
	}
}

// bearerToken returns the token of an Authorization header's value, which
// must be "Bearer <token>"; otherwise an ErrUnauthorized error.
func bearerToken(h string) (string, error) {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", &alerts.Error{Kind: alerts.ErrUnauthorized, Message: "the Authorization header must be \"Bearer <token>\""}
	}
	return strings.TrimSpace(token), nil
}

// requireAdmin refuses, with 403, callers that are not admins.
func requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !caller(c).IsAdmin() {
			return &alerts.Error{Kind: alerts.ErrForbidden, Message: "this needs the admin role"}
		}
		return next(c)
	}
}

// caller returns the authenticated user of the request.
func caller(c echo.Context) auth.User {
	u, _ := c.Get(userKey).(auth.User)
	return u
}

// actor returns the caller as the audit log names it.
func actor(c echo.Context) storage.Actor {
	u := caller(c)
	return storage.Actor{UserID: u.ID, Name: u.Name}
}

// mayActFor returns an ErrForbidden error unless the caller is an admin or
// the user userID.
func mayActFor(c echo.Context, userID int64) error {
	u := caller(c)
	if u.IsAdmin() || u.ID == userID {
		return nil
	}
	return &alerts.Error{Kind: alerts.ErrForbidden, Message: "a responder may only act on itself and its own tokens"}
}
