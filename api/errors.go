package api

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tocsinhq/tocsin/alerts"
)

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error errorDetail `json:"error"`
}

// errorDetail says what went wrong: a stable code for programs, a message for
// people, and the input field at fault when there is one.
type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// classes maps each error class to its status and code.
var classes = []struct {
	kind   error
	status int
	code   string
}{
	{alerts.ErrInvalid, http.StatusBadRequest, "invalid"},
	{alerts.ErrUnauthorized, http.StatusUnauthorized, "unauthorized"},
	{alerts.ErrForbidden, http.StatusForbidden, "forbidden"},
	{alerts.ErrNotFound, http.StatusNotFound, "not_found"},
	{alerts.ErrConflict, http.StatusConflict, "conflict"},
	{alerts.ErrUnavailable, http.StatusServiceUnavailable, "unavailable"},
}

// statusCodes names the statuses that reach clients as echo.HTTPErrors
// (from the router and middleware) rather than as classified errors.
var statusCodes = map[int]string{
	http.StatusBadRequest:            "invalid",
	http.StatusUnauthorized:          "unauthorized",
	http.StatusForbidden:             "forbidden",
	http.StatusNotFound:              "not_found",
	http.StatusMethodNotAllowed:      "method_not_allowed",
	http.StatusRequestEntityTooLarge: "body_too_large",
	http.StatusUnsupportedMediaType:  "unsupported_media_type",
	http.StatusServiceUnavailable:    "unavailable",
}

// retryAfterSeconds is the Retry-After of every 503.
const retryAfterSeconds = "1"

// classify returns the status and the client-safe detail of err. An error of
// no known class is internal: its text is not shown.
func classify(err error) (int, errorDetail) {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code, ok := statusCodes[he.Code]
		if !ok {
			code = "error"
		}
		msg, ok := he.Message.(string)
		if !ok || he.Code >= 500 {
			msg = http.StatusText(he.Code)
		}
		return he.Code, errorDetail{Code: code, Message: msg}
	}
	for _, c := range classes {
		if errors.Is(err, c.kind) {
			d := errorDetail{Code: c.code, Message: c.kind.Error()}
			var e *alerts.Error
			if errors.As(err, &e) {
				d.Message, d.Field = e.Message, e.Field
			}
			return c.status, d
		}
	}
	return http.StatusInternalServerError, errorDetail{Code: "internal", Message: "internal error; the server log has the details"}
}

// handleError is the server's echo.HTTPErrorHandler: it writes every error in
// the JSON error shape, and logs the ones that are the server's fault.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		s.log.Warn("error after the response was sent", "method", c.Request().Method, "path", c.Request().URL.Path,
			"request_id", c.Response().Header().Get(echo.HeaderXRequestID), "err", err)
		return
	}
	status, detail := classify(err)
	if status >= 500 {
		s.log.Error("request failed", "method", c.Request().Method, "path", c.Request().URL.Path,
			"request_id", c.Response().Header().Get(echo.HeaderXRequestID), "err", err)
	}
	switch status {
	case http.StatusUnauthorized:
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="tocsin"`)
	case http.StatusServiceUnavailable:
		// Senders such as Alertmanager retry with backoff anyway; the header
		// tells the others how soon.
		c.Response().Header().Set(echo.HeaderRetryAfter, retryAfterSeconds)
	}
	if c.Request().Method == http.MethodHead {
		err = c.NoContent(status)
	} else {
		err = c.JSON(status, errorBody{Error: detail})
	}
	if err != nil {
		s.log.Warn("write error response", "err", err)
	}
}
