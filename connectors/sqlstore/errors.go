package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/idstream/idstream/connectors"
)

// classify maps an error to its class. Messages carry the server's message and SQLSTATE, never
// its detail (which quotes row values) nor a connection string.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var ce *connectors.Error
	if errors.As(err, &ce) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound(op)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return &connectors.Error{Class: classOfCode(pe.Code), Op: op, Err: fmt.Errorf("%s (SQLSTATE %s)", pe.Message, pe.Code)}
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.As(err, &ne) {
		return &connectors.Error{Class: connectors.ClassUnavailable, Op: op, Err: err}
	}
	var conn *pgconn.ConnectError
	if errors.As(err, &conn) {
		return &connectors.Error{Class: connectors.ClassUnavailable, Op: op, Err: err}
	}
	// Unknown: retried (a connector bug should not lose a change).
	return &connectors.Error{Class: connectors.ClassUnavailable, Op: op, Err: err}
}

func classOfCode(code string) connectors.Class {
	switch {
	case code == "23505":
		return connectors.ClassConflict
	case code == "42501", strings.HasPrefix(code, "28"):
		return connectors.ClassAuth
	case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "57"), strings.HasPrefix(code, "53"),
		code == "40001", code == "40P01", strings.HasPrefix(code, "58"), strings.HasPrefix(code, "XX"):
		return connectors.ClassUnavailable
	case strings.HasPrefix(code, "22"), strings.HasPrefix(code, "23"), strings.HasPrefix(code, "42"), strings.HasPrefix(code, "2F"),
		strings.HasPrefix(code, "0A"):
		return connectors.ClassInvalid
	}
	return connectors.ClassUnavailable
}
