package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tocsinhq/tocsin/storage"
)

func auditID(e storage.AuditEntry) int64 { return e.ID }

// listAudit answers a page of the audit log, newest first.
func (s *Server) listAudit(c echo.Context) error {
	page, err := pageQuery(c)
	if err != nil {
		return err
	}
	entries, err := s.store.AuditLog(c.Request().Context(), page)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newListPage(entries, page, auditID))
}
