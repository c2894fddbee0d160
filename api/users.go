package api

import (
	"context"
	"net/http"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/labstack/echo/v4"

	"github.com/tocsinhq/tocsin/auth"
	"github.com/tocsinhq/tocsin/storage"
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

// objectUser names users in config changes.
const objectUser = "user"

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
	return answerObject(c, http.StatusCreated, u, u.Version)
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
	return answerObject(c, http.StatusOK, u, u.Version)
}

// updateUser replaces a user's name and role, at the version it names. A
// user whose role changes has its WebSockets closed, since what they are
// sent depends on the role; the user reconnects with the new one.
func (s *Server) updateUser(c echo.Context) error {
	var req userRequest
	id, version, err := decodeUpdate(c, &req, &req.Version)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	// The user as it was: the update succeeds only at the version read, so
	// when the versions agree this is the user the update replaced. When
	// they do not, or the read failed, the role before is unknown.
	before, readErr := s.store.User(ctx, id)
	u, err := s.store.UpdateUser(ctx, actor(c), auth.User{ID: id, Name: req.Name, Role: req.Role, Version: version})
	if err != nil {
		return err
	}
	if s.push != nil && (readErr != nil || before.Version != version || before.Role != u.Role) {
		s.push.CloseUser(id)
	}
	return answerObject(c, http.StatusOK, u, u.Version)
}

// deleteUser deletes a user and its tokens, and closes its WebSockets.
// Teams and routes that listed the user no longer do: that changes who the
// rules notify, so they are told.
func (s *Server) deleteUser(c echo.Context) error {
	return s.deleteObject(c, objectUser, func(ctx context.Context, actor storage.Actor, id, version int64) error {
		if err := s.store.DeleteUser(ctx, actor, id, version); err != nil {
			return err
		}
		if s.push != nil {
			s.push.CloseUser(id)
		}
		return nil
	})
}
