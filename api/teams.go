package api

import (
	"net/http"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/labstack/echo/v4"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/storage"
)

// objectTeam names teams in config changes.
const objectTeam = "team"

// teamRequest is the body of a team create or update. A client may send back
// a team as it read it: the read-only fields are accepted and ignored.
type teamRequest struct {
	Name    string  `json:"name"`
	Members []int64 `json:"members"`
	Version int64   `json:"version"`

	ID        jsontext.Value `json:"id"`
	ManagedBy jsontext.Value `json:"managed_by"`
	CreatedAt jsontext.Value `json:"created_at"`
	UpdatedAt jsontext.Value `json:"updated_at"`
}

// team returns the team the request describes, with the given ID and version.
func (r teamRequest) team(id, version int64) (alerts.Team, error) {
	t := alerts.Team{ID: id, Name: r.Name, Members: r.Members, Version: version}
	if t.Members == nil {
		t.Members = []int64{}
	}
	return t, t.Validate()
}

func teamID(t alerts.Team) int64 { return t.ID }

// listTeams answers a page of teams by ID, those with the user ?member= when
// it is given.
func (s *Server) listTeams(c echo.Context) error {
	page, err := pageQuery(c)
	if err != nil {
		return err
	}
	member, err := queryID(c, "member")
	if err != nil {
		return err
	}
	teams, err := s.store.Teams(c.Request().Context(), storage.TeamFilter{Member: member}, page)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newListPage(teams, page, teamID))
}

// createTeam adds a team.
func (s *Server) createTeam(c echo.Context) error {
	var req teamRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	t, err := req.team(0, 0)
	if err != nil {
		return err
	}
	if t, err = s.store.CreateTeam(c.Request().Context(), actor(c), t); err != nil {
		return err
	}
	s.apply(c, objectTeam, t.ID, storage.ActionCreate, t.Version)
	return answerObject(c, http.StatusCreated, t, t.Version)
}

// getTeam answers one team.
func (s *Server) getTeam(c echo.Context) error {
	t, err := readObject(c, s.store.Team)
	if err != nil {
		return err
	}
	return answerObject(c, http.StatusOK, t, t.Version)
}

// updateTeam replaces a team's name and members, at the version it names.
func (s *Server) updateTeam(c echo.Context) error {
	var req teamRequest
	id, version, err := decodeUpdate(c, &req, &req.Version)
	if err != nil {
		return err
	}
	t, err := req.team(id, version)
	if err != nil {
		return err
	}
	if t, err = s.store.UpdateTeam(c.Request().Context(), actor(c), t); err != nil {
		return err
	}
	s.apply(c, objectTeam, t.ID, storage.ActionUpdate, t.Version)
	return answerObject(c, http.StatusOK, t, t.Version)
}

// deleteTeam deletes a team that no route targets.
func (s *Server) deleteTeam(c echo.Context) error {
	return s.deleteObject(c, objectTeam, s.store.DeleteTeam)
}
