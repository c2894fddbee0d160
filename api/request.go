package api

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
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
// type and nothing else, into v. It is strict where encoding/json is lax:
// unknown fields, field names in another case, duplicate fields and invalid
// UTF-8 are refused, so that what a client sent is exactly what is stored.
func decodeJSON(c echo.Context, v any) error {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != echo.MIMEApplicationJSON {
		return echo.NewHTTPError(http.StatusUnsupportedMediaType, "Content-Type must be application/json")
	}
	body, err := io.ReadAll(c.Request().Body)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return errBodyTooLarge(tooLarge.Limit)
	}
	if err != nil {
		return alerts.Invalid("", "could not read the body: %v", err)
	}
	if trimmed := bytes.TrimSpace(body); len(trimmed) == 0 || trimmed[0] != '{' {
		return alerts.Invalid("", "the body must be a JSON object")
	}
	err = json.Unmarshal(body, v, json.RejectUnknownMembers(true))
	var (
		syntax   *jsontext.SyntacticError
		semantic *json.SemanticError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &syntax):
		return alerts.Invalid(fieldOf(syntax.JSONPointer), "malformed JSON at byte %d: %v", syntax.ByteOffset, syntax.Err)
	case errors.As(err, &semantic) && errors.Is(semantic.Err, json.ErrUnknownName):
		return alerts.Invalid(fieldOf(semantic.JSONPointer), "unknown field")
	case errors.As(err, &semantic) && semantic.GoType != nil:
		return alerts.Invalid(fieldOf(semantic.JSONPointer), "want %s, got %s", jsonKindOf(semantic.GoType), semantic.JSONKind)
	}
	return alerts.Invalid("", "bad JSON body: %v", err)
}

// fieldOf names the field a JSON pointer points at as a client writes it:
// /matchers/1 is matchers[1], /a/b is a.b.
func fieldOf(p jsontext.Pointer) string {
	var b strings.Builder
	for token := range p.Tokens() {
		if _, err := strconv.Atoi(token); err == nil && b.Len() > 0 {
			b.WriteString("[" + token + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(token)
	}
	return b.String()
}

// jsonKindOf says which JSON a Go type is decoded from.
func jsonKindOf(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer in range"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
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
	page, err := exactPageQuery(c)
	page.Limit++
	return page, err
}

// exactPageQuery reads ?limit= (default 100, at most 1000) and ?cursor= into
// a storage.Page of exactly the limit, for lists whose store says itself
// where the next page starts.
func exactPageQuery(c echo.Context) (storage.Page, error) {
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
	return storage.Page{Cursor: cursor, Limit: limit}, nil
}

// encodeCursor is the next_cursor of a page that ends at the item with ID
// (or seq) last; "" when last is 0, for the last page.
func encodeCursor(last int64) string {
	if last == 0 {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(last, 10)))
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
	return listPage[T]{Items: items, NextCursor: encodeCursor(id(items[limit-1]))}
}

// expectedVersion returns the version a write names: the If-Match header
// when present ("3" or 3; a weak W/ tag names no exact version), else
// fromBody. 0 means none was named.
func expectedVersion(c echo.Context, fromBody int64) (int64, error) {
	if fromBody < 0 {
		return 0, alerts.Invalid("version", "must be a positive integer, got %d", fromBody)
	}
	h := strings.Trim(c.Request().Header.Get("If-Match"), `"`)
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

// queryID reads the optional query parameter name as a positive ID; 0 when
// it is absent.
func queryID(c echo.Context, name string) (int64, error) {
	q := c.QueryParam(name)
	if q == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(q, 10, 64)
	if err != nil || id < 1 {
		return 0, alerts.Invalid(name, "must be a positive integer, got %q", q)
	}
	return id, nil
}

// timeField parses a time field of a body, kept raw: an RFC 3339 string, or
// null or absent for none (the zero time).
func timeField(field string, raw jsontext.Value) (time.Time, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, nil
	}
	bad := alerts.Invalid(field, "must be an RFC 3339 time such as 2027-01-31T00:00:00Z")
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return time.Time{}, bad
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, bad
	}
	return t, nil
}

// hasBody reports whether the request has a body to read, for endpoints whose
// body is optional.
func hasBody(c echo.Context) bool {
	r := c.Request()
	return r.ContentLength != 0 && r.Body != http.NoBody
}
