package api

import (
	"net/http"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/labstack/echo/v4"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/storage"
)

// objectRoute names routes in config changes.
const objectRoute = "route"

// routeRequest is the body of a route create or update. A client may send
// back a route as it read it: the read-only fields are accepted and ignored.
// Position is writable: 0 means the end on create, and no move on update.
type routeRequest struct {
	Name     string   `json:"name"`
	Matchers []string `json:"matchers"`
	Users    []int64  `json:"users"`
	Teams    []int64  `json:"teams"`
	Continue bool     `json:"continue"`
	// Enabled is true when left out, so that a new route works at once.
	Enabled  *bool `json:"enabled"`
	Position int64 `json:"position"`
	Version  int64 `json:"version"`

	ID        jsontext.Value `json:"id"`
	ManagedBy jsontext.Value `json:"managed_by"`
	CreatedAt jsontext.Value `json:"created_at"`
	UpdatedAt jsontext.Value `json:"updated_at"`
}

// route returns the route the request describes, with the given ID and
// version.
func (r routeRequest) route(id, version int64) (alerts.Route, error) {
	matchers, err := alerts.ParseMatcherList("matchers", r.Matchers)
	if err != nil {
		return alerts.Route{}, err
	}
	route := alerts.Route{
		ID: id, Name: r.Name, Matchers: matchers, Users: r.Users, Teams: r.Teams,
		Continue: r.Continue, Enabled: r.Enabled == nil || *r.Enabled, Position: r.Position, Version: version,
	}
	if route.Users == nil {
		route.Users = []int64{}
	}
	if route.Teams == nil {
		route.Teams = []int64{}
	}
	return route, route.Validate()
}

func routePosition(r alerts.Route) int64 { return r.Position }

// listRoutes answers a page of routes in the order they are evaluated,
// filtered by ?user=, ?team= (routes that name them as targets) and
// ?enabled=.
func (s *Server) listRoutes(c echo.Context) error {
	page, err := pageQuery(c)
	if err != nil {
		return err
	}
	var f storage.RouteFilter
	if f.User, err = queryID(c, "user"); err != nil {
		return err
	}
	if f.Team, err = queryID(c, "team"); err != nil {
		return err
	}
	switch q := c.QueryParam("enabled"); q {
	case "":
	case "true", "false":
		enabled := q == "true"
		f.Enabled = &enabled
	default:
		return alerts.Invalid("enabled", "must be true or false, got %q", q)
	}
	routes, err := s.store.Routes(c.Request().Context(), f, page)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newListPage(routes, page, routePosition))
}

// createRoute adds a route.
func (s *Server) createRoute(c echo.Context) error {
	var req routeRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	r, err := req.route(0, 0)
	if err != nil {
		return err
	}
	if r, err = s.store.CreateRoute(c.Request().Context(), actor(c), r); err != nil {
		return err
	}
	s.apply(c, objectRoute, r.ID, storage.ActionCreate, r.Version)
	return answerObject(c, http.StatusCreated, r, r.Version)
}

// getRoute answers one route.
func (s *Server) getRoute(c echo.Context) error {
	r, err := readObject(c, s.store.Route)
	if err != nil {
		return err
	}
	return answerObject(c, http.StatusOK, r, r.Version)
}

// updateRoute replaces a route, at the version it names.
func (s *Server) updateRoute(c echo.Context) error {
	var req routeRequest
	id, version, err := decodeUpdate(c, &req, &req.Version)
	if err != nil {
		return err
	}
	r, err := req.route(id, version)
	if err != nil {
		return err
	}
	if r, err = s.store.UpdateRoute(c.Request().Context(), actor(c), r); err != nil {
		return err
	}
	s.apply(c, objectRoute, r.ID, storage.ActionUpdate, r.Version)
	return answerObject(c, http.StatusOK, r, r.Version)
}

// deleteRoute deletes a route.
func (s *Server) deleteRoute(c echo.Context) error {
	return s.deleteObject(c, objectRoute, s.store.DeleteRoute)
}

// orderRequest is the body of POST /routes/order: every route's ID, once
// each, in the new order.
type orderRequest struct {
	IDs []int64 `json:"ids"`
}

// routeOrder is the answer to POST /routes/order: every route, in the new
// order, with its new position and version.
type routeOrder struct {
	Items []alerts.Route `json:"items"`
}

// reorderRoutes gives the routes positions 1 to n in the order the request
// lists them.
func (s *Server) reorderRoutes(c echo.Context) error {
	var req orderRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if len(req.IDs) == 0 {
		return alerts.Invalid("ids", "list the ID of every route, in the new order")
	}
	routes, err := s.store.ReorderRoutes(c.Request().Context(), actor(c), req.IDs)
	if err != nil {
		return err
	}
	if routes == nil {
		routes = []alerts.Route{}
	}
	s.apply(c, objectRoute, 0, changeReorder, 0)
	return c.JSON(http.StatusOK, routeOrder{Items: routes})
}

// testRequest is the body of POST /routes/test: the labels of an alert that
// might be sent.
type testRequest struct {
	Labels alerts.Labels `json:"labels"`
}

// routeTest is the answer to POST /routes/test: what the rules in effect
// decide for the labels, and which snapshot of the rules decided it.
type routeTest struct {
	SnapshotVersion uint64 `json:"snapshot_version"`
	alerts.Resolution
}

// testRoutes answers which routes match a label set, which users an alert
// with those labels would notify, and whether a silence covers it, by the
// rules in effect: every change answered before this request is in them.
func (s *Server) testRoutes(c echo.Context) error {
	var req testRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if len(req.Labels) == 0 {
		return alerts.Invalid("labels", "give at least one label, such as {\"alertname\": \"HighLatency\"}")
	}
	if err := req.Labels.Validate("labels"); err != nil {
		return err
	}
	snap := s.rules.Snapshot()
	return c.JSON(http.StatusOK, routeTest{SnapshotVersion: snap.Version(), Resolution: snap.Explain(req.Labels)})
}
