package api

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/push"
)

// PushHub is live push over WebSocket: *push.Hub implements it.
type PushHub interface {
	// Serve upgrades r, which the server has authenticated and whose Origin
	// it has checked, to a WebSocket for s, sends what the client missed
	// since since (< 0 means the client gave none), and returns, leaving the
	// connection to the hub until it closes. It answers the request itself
	// when it refuses it (400 for a bad upgrade, 503 when shutting down).
	Serve(w http.ResponseWriter, r *http.Request, s push.Session, since int64)
	// CloseToken closes at once every connection opened with the token.
	CloseToken(tokenID int64)
	// CloseUser closes at once every connection of the user.
	CloseUser(userID int64)
}

// accessTokenParam is the query parameter that may carry the token of a
// WebSocket request, for clients (browsers) that cannot set its headers.
const accessTokenParam = "access_token"

// serveWS opens a WebSocket for live push: GET /api/v1/ws. The token comes
// from Authorization: Bearer or ?access_token= (one of them); the connection
// serves the token's user and no other, whatever else the query says. A
// browser page of another origin is refused with 403 before the upgrade
// unless push.allowed_origins lets it in.
func (s *Server) serveWS(c echo.Context) error {
	if s.push == nil {
		return &alerts.Error{Kind: alerts.ErrUnavailable, Message: "this server does not push: live push is not running"}
	}
	r := c.Request()
	if !websocket.IsWebSocketUpgrade(r) {
		return alerts.Invalid("", "this endpoint speaks WebSocket only: send a GET with Connection: Upgrade and Upgrade: websocket")
	}
	token, err := wsToken(r)
	if err != nil {
		return err
	}
	since, err := wsSince(r.URL.Query())
	if err != nil {
		return err
	}
	if origin, ok := s.originAllowed(c); !ok {
		s.log.Info("websocket refused: origin not allowed", "origin", origin, "remote", c.RealIP())
		return &alerts.Error{Kind: alerts.ErrForbidden,
			Message: "origin " + strconv.Quote(origin) + " may not open a WebSocket here: add it to push.allowed_origins"}
	}
	u, t, err := s.store.Authenticate(r.Context(), token)
	if err != nil {
		return err
	}
	s.push.Serve(c.Response(), r, push.Session{User: u, TokenID: t.ID, ExpiresAt: t.ExpiresAt}, since)
	if !c.Response().Committed {
		// The hub took the connection over and answered 101 on it: say so
		// to the request log and metrics, which would show 200.
		c.Response().Status = http.StatusSwitchingProtocols
	}
	return nil
}

// wsToken returns the token of a WebSocket request: from its Authorization
// header or its access_token parameter, which may not both be given (400).
// Without either it returns an ErrUnauthorized error.
func wsToken(r *http.Request) (string, error) {
	header := r.Header.Get(echo.HeaderAuthorization)
	params, inQuery := r.URL.Query()[accessTokenParam]
	switch {
	case header != "" && inQuery:
		return "", alerts.Invalid(accessTokenParam, "give the token in the Authorization header or in access_token, not both")
	case header != "":
		return bearerToken(header)
	case len(params) > 1:
		return "", alerts.Invalid(accessTokenParam, "give it once")
	case inQuery && strings.TrimSpace(params[0]) != "":
		return strings.TrimSpace(params[0]), nil
	}
	return "", &alerts.Error{Kind: alerts.ErrUnauthorized, Message: "missing token: send Authorization: Bearer <token> or ?access_token=<token>"}
}

// wsSince reads ?since=, the seq the client has seen up to: an integer of 0
// or more, given once. Absent, it is -1: no replay.
func wsSince(q url.Values) (int64, error) {
	vs, ok := q["since"]
	if !ok {
		return -1, nil
	}
	if len(vs) > 1 {
		return 0, alerts.Invalid("since", "give it once")
	}
	return parseSeq("since", vs[0])
}

// originAllowed reports whether the request's Origin may open a WebSocket,
// and returns the Origin. A request without one (not from a browser) may; so
// may a page of the server's own origin (scheme and host as the request
// reached tocsin, X-Forwarded-Proto included: a page cannot set that header
// on a WebSocket upgrade), and the origins of push.allowed_origins ("*" is
// any). Origins are compared as browsers write them: scheme and host in
// lower case, without the scheme's default port.
func (s *Server) originAllowed(c echo.Context) (string, bool) {
	values := c.Request().Header.Values(echo.HeaderOrigin)
	switch {
	case len(values) == 0:
		return "", true
	case len(values) > 1:
		return strings.Join(values, ", "), false
	}
	origin := values[0]
	canonical, ok := canonicalOrigin(origin)
	if !ok {
		return origin, s.anyOrigin
	}
	if own, ok := canonicalOrigin(c.Scheme() + "://" + c.Request().Host); ok && own == canonical {
		return origin, true
	}
	_, listed := s.origins[canonical]
	return origin, s.anyOrigin || listed
}

// canonicalOrigin returns origin as browsers write it: "scheme://host[:port]"
// in lower case, without the scheme's default port. It reports false for
// what is not an http or https origin, such as "null".
func canonicalOrigin(origin string) (string, bool) {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", false
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if port := u.Port(); (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		host = strings.TrimSuffix(host, ":"+port)
	}
	return scheme + "://" + host, true
}

// allowedOrigins indexes push.allowed_origins, and says whether it holds
// "*".
func allowedOrigins(list []string) (map[string]bool, bool) {
	origins := make(map[string]bool, len(list))
	anyOrigin := false
	for _, o := range list {
		if o == "*" {
			anyOrigin = true
			continue
		}
		if canonical, ok := canonicalOrigin(o); ok {
			origins[canonical] = true
		}
	}
	return origins, anyOrigin
}
