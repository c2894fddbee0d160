package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/storage"
)

// limitBody refuses bodies over max bytes with 413: at once when the
// Content-Length says so, and while reading otherwise.
func limitBody(max int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if r.ContentLength > max {
				return errBodyTooLarge(max)
			}
			r.Body = http.MaxBytesReader(c.Response(), r.Body, max)
			return next(c)
		}
	}
}

// errBodyTooLarge is the 413 error.
func errBodyTooLarge(max int64) error {
	return echo.NewHTTPError(http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is over the limit of %d bytes", max))
}

// decodeJSON reads the request body, which must be one JSON object of v's
// type and nothing else, into v. Unknown fields are refused so that a typo
// does not pass silently.
func decodeJSON(c echo.Context, v any) error {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != echo.MIMEApplicationJSON {
		return echo.NewHTTPError(http.StatusUnsupportedMediaType, "Content-Type must be application/json")
	}
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			return alerts.Invalid("", "the body must hold one JSON object and nothing after it")
		}
		return nil
	}
	var (
		tooLarge *http.MaxBytesError
		syntax   *json.SyntaxError
		typ      *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooLarge):
		return errBodyTooLarge(tooLarge.Limit)
	case errors.As(err, &syntax):
		return alerts.Invalid("", "malformed JSON at byte %d: %v", syntax.Offset, syntax)
	case errors.As(err, &typ):
		return alerts.Invalid(typ.Field, "want a JSON %s, got %s", typ.Type.Kind(), typ.Value)
	case errors.Is(err, io.EOF):
		return alerts.Invalid("", "the body is empty; want a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return alerts.Invalid("", "the body ends in the middle of the JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return alerts.Invalid(field, "unknown field")
	}
	return alerts.Invalid("", "bad JSON body: %v", err)
}

// pathID reads the integer ID in the path parameter "id".
func pathID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, alerts.Invalid("id", "must be a positive integer, got %q", c.Param("id"))
	}
	return id, nil
}

// Paging limits.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// listPage is one page of a list, as every list endpoint answers.
type listPage[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// pageQuery reads ?limit= and ?cursor= into a storage.Page that asks for one
// item more than the limit, so that the answer tells whether a next page exists.
func pageQuery(c echo.Context) (storage.Page, error) {
	limit := defaultLimit
	if s := c.QueryParam("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			return storage.Page{}, alerts.Invalid("limit", "must be an integer from 1 to %d, got %q", maxLimit, s)
		}
		limit = n
	}
	var cursor int64
	if s := c.QueryParam("cursor"); s != "" {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err == nil {
			cursor, err = strconv.ParseInt(string(b), 10, 64)
		}
		if err != nil || cursor < 1 {
			return storage.Page{}, alerts.Invalid("cursor", "not a cursor this server gave out")
		}
	}
	return storage.Page{Cursor: cursor, Limit: limit + 1}, nil
}

// newListPage trims items fetched with pageQuery's page to the limit and sets
// the cursor of the next page from the last item's ID.
func newListPage[T any](items []T, page storage.Page, id func(T) int64) listPage[T] {
	if items == nil {
		items = []T{}
	}
	limit := page.Limit - 1
	if len(items) <= limit {
		return listPage[T]{Items: items}
	}
	items = items[:limit]
	next := strconv.FormatInt(id(items[limit-1]), 10)
	return listPage[T]{Items: items, NextCursor: base64.RawURLEncoding.EncodeToString([]byte(next))}
}

// expectedVersion returns the version a write names: the If-Match header
// when present ("3" or 3), else fromBody. 0 means none was named.
func expectedVersion(c echo.Context, fromBody int64) (int64, error) {
	h := strings.Trim(strings.TrimPrefix(c.Request().Header.Get("If-Match"), "W/"), `"`)
	if h == "" {
		return fromBody, nil
	}
	v, err := strconv.ParseInt(h, 10, 64)
	if err != nil || v < 1 {
		return 0, alerts.Invalid("If-Match", "must be an object version, got %q", h)
	}
	if fromBody != 0 && fromBody != v {
		return 0, alerts.Invalid("version", "is %d but If-Match says %d", fromBody, v)
	}
	return v, nil
}

// setETag sets the ETag of an object to its version.
func setETag(c echo.Context, version int64) {
	c.Response().Header().Set("ETag", `"`+strconv.FormatInt(version, 10)+`"`)
}

// requiredVersion is expectedVersion for updates, which must name one.
func requiredVersion(c echo.Context, fromBody int64) (int64, error) {
	v, err := expectedVersion(c, fromBody)
	if err == nil && v == 0 {
		err = alerts.Invalid("version", "is required: send the version you read (or an If-Match header)")
	}
	return v, err
}
