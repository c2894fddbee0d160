package api

import (
	"net/http"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/labstack/echo/v4"

	"github.com/tocsinhq/tocsin/auth"
)

// userRequest is the body of a user create or update. A client may send back
// a user as it read it: the read-only fields are accepted and ignored.
type userRequest struct {
	Name    string    `json:"name"`
	Role    auth.Role `json:"role"`
	Version int64     `json:"version"`

	ID        jsontext.Value `json:"id"`
	CreatedAt jsontext.Value `json:"created_at"`
	UpdatedAt jsontext.Value `json:"updated_at"`
}

func userID(u auth.User) int64 { return u.ID }

// listUsers answers a page of users.
func (s *Server) listUsers(c echo.Context) error {
	page, err := pageQuery(c)
	if err != nil {
		return err
	}
	users, err := s.store.Users(c.Request().Context(), page)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newListPage(users, page, userID))
}

// createUser adds a user.
func (s *Server) createUser(c echo.Context) error {
	var req userRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	u, err := s.store.CreateUser(c.Request().Context(), actor(c), auth.User{Name: req.Name, Role: req.Role})
	if err != nil {
		return err
	}
	setETag(c, u.Version)
	return c.JSON(http.StatusCreated, u)
}

// getUser answers one user: any user to an admin, itself to a responder.
func (s *Server) getUser(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := mayActFor(c, id); err != nil {
		return err
	}
	u, err := s.store.User(c.Request().Context(), id)
	if err != nil {
		return err
	}
	setETag(c, u.Version)
	return c.JSON(http.StatusOK, u)
}

// updateUser replaces a user's name and role, at the version it names.
func (s *Server) updateUser(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var req userRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	version, err := requiredVersion(c, req.Version)
	if err != nil {
		return err
	}
	u, err := s.store.UpdateUser(c.Request().Context(), actor(c), auth.User{ID: id, Name: req.Name, Role: req.Role, Version: version})
	if err != nil {
		return err
	}
	setETag(c, u.Version)
	return c.JSON(http.StatusOK, u)
}

// deleteUser deletes a user and its tokens.
func (s *Server) deleteUser(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	version, err := expectedVersion(c, 0)
	if err != nil {
		return err
	}
	if err := s.store.DeleteUser(c.Request().Context(), actor(c), id, version); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
