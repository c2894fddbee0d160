package api

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tocsinhq/tocsin/storage"
)

// answerObject answers one object with status and its version as the ETag.
func answerObject(c echo.Context, status int, obj any, version int64) error {
	setETag(c, version)
	return c.JSON(status, obj)
}

// readObject reads the object of the path's ID with read, a store getter
// such as Store.Team.
func readObject[T any](c echo.Context, read func(ctx context.Context, id int64) (T, error)) (T, error) {
	id, err := pathID(c)
	if err != nil {
		var zero T
		return zero, err
	}
	return read(c.Request().Context(), id)
}

// decodeUpdate reads an update request: the path's ID, the body into req,
// and the version the update names, which it requires: the body's, which
// fromBody points to in req, or If-Match.
func decodeUpdate(c echo.Context, req any, fromBody *int64) (id, version int64, err error) {
	if id, err = pathID(c); err != nil {
		return 0, 0, err
	}
	if err := decodeJSON(c, req); err != nil {
		return 0, 0, err
	}
	if version, err = requiredVersion(c, *fromBody); err != nil {
		return 0, 0, err
	}
	return id, version, nil
}

// deleteObject deletes the object of the path's ID with del, a store
// deleter such as Store.DeleteTeam, at the version If-Match names (any
// without one), and answers 204 once the rules have the change.
func (s *Server) deleteObject(c echo.Context, object string, del func(ctx context.Context, actor storage.Actor, id, version int64) error) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	version, err := expectedVersion(c, 0)
	if err != nil {
		return err
	}
	if err := del(c.Request().Context(), actor(c), id, version); err != nil {
		return err
	}
	s.apply(c, object, id, storage.ActionDelete, 0)
	return c.NoContent(http.StatusNoContent)
}
