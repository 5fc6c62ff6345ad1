package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/idstream/idstream/domain"
)

// Error codes of extensions.code, beside gqlgen's own (GRAPHQL_PARSE_FAILED,
// GRAPHQL_VALIDATION_FAILED, COMPLEXITY_LIMIT_EXCEEDED) and DEPTH_LIMIT_EXCEEDED.
const (
	CodeNotFound        = "NOT_FOUND"
	CodeConflict        = "CONFLICT"
	CodeInvalid         = "INVALID"
	CodeUnauthenticated = "UNAUTHENTICATED"
	CodeForbidden       = "FORBIDDEN"
	CodeUnavailable     = "UNAVAILABLE"
	CodeInternal        = "INTERNAL"
)

// internalMessage is all a client learns of an unexpected error.
const internalMessage = "internal error"

// errUnauthenticated is the error of a request without a valid bearer token.
var errUnauthenticated = errors.New("missing, unknown, revoked or expired bearer token")

// codeOf maps an error to its extensions.code by its domain kind; "" for an unexpected error.
func codeOf(err error) string {
	switch {
	case errors.Is(err, errUnauthenticated):
		return CodeUnauthenticated
	case errors.Is(err, domain.ErrNotFound):
		return CodeNotFound
	case errors.Is(err, domain.ErrInvalid):
		return CodeInvalid
	case errors.Is(err, domain.ErrConflict):
		return CodeConflict
	case errors.Is(err, domain.ErrForbidden):
		return CodeForbidden
	case errors.Is(err, domain.ErrUnavailable):
		return CodeUnavailable
	}
	return ""
}

// errorPresenter is the one place errors become GraphQL errors: a domain kind becomes
// extensions.code with the error's message, a *domain.FieldError also names extensions.field
// (prefixed "input." under a mutation, whose arguments are one input), gqlgen's own errors keep
// their codes, and anything else becomes INTERNAL with a generic message, logged in full.
func errorPresenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		cause := gqlErr.Err
		if cause == nil {
			if _, ok := gqlErr.Extensions["code"]; ok {
				return gqlErr // gqlgen's own parse, validation and limit errors
			}
		}
		var gerr *gqlerror.Error
		if errors.As(cause, &gerr) && gerr.Err == nil && gerr.Extensions["code"] != nil {
			return gqlErr
		}
		code := codeOf(cause)
		if code == "" {
			if field, ok := argumentPath(ctx, gqlErr.Path); ok {
				return &gqlerror.Error{Message: field + ": " + cause.Error(), Path: gqlErr.Path,
					Extensions: map[string]any{"code": CodeInvalid, "field": field}}
			}
			log.ErrorContext(ctx, "graphql: unexpected error", "path", gqlErr.Path.String(), "error", cause)
			return &gqlerror.Error{Message: internalMessage, Path: gqlErr.Path,
				Extensions: map[string]any{"code": CodeInternal}}
		}
		out := &gqlerror.Error{Message: cause.Error(), Path: gqlErr.Path, Extensions: map[string]any{"code": code}}
		var fe *domain.FieldError
		if errors.As(cause, &fe) {
			out.Extensions["field"] = fieldPath(ctx, fe.Field)
		}
		return out
	}
}

// argumentPath recognizes an error gqlgen raised while coercing one of the current field's
// arguments (a custom scalar such as DateTime or JSON that does not parse): its path is the
// field's, then an argument name, then input members and list indices. field is that remainder
// ("input.until", "input.users[2].customAttributes").
func argumentPath(ctx context.Context, path ast.Path) (field string, ok bool) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Field.Field == nil {
		return "", false
	}
	own := fc.Path()
	if len(path) <= len(own) {
		return "", false
	}
	for i := range own {
		if path[i] != own[i] {
			return "", false
		}
	}
	arg, isName := path[len(own)].(ast.PathName)
	if !isName || fc.Field.Arguments.ForName(string(arg)) == nil {
		return "", false
	}
	var b strings.Builder
	for _, el := range path[len(own):] {
		switch x := el.(type) {
		case ast.PathName:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(string(x))
		case ast.PathIndex:
			fmt.Fprintf(&b, "[%d]", int(x))
		}
	}
	return b.String(), true
}

// fieldPath prefixes a mutation's field paths with "input.".
func fieldPath(ctx context.Context, field string) string {
	if graphql.HasOperationContext(ctx) {
		if op := graphql.GetOperationContext(ctx).Operation; op != nil && op.Operation == ast.Mutation {
			return "input." + field
		}
	}
	return field
}

// recoverFunc turns a resolver's panic into an INTERNAL error; the panic goes to the log only.
func recoverFunc(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "graphql: panic in resolver", "panic", fmt.Sprint(p))
		return errors.New("panic in resolver")
	}
}

// splitFieldErrors is a field middleware: a resolver error that joins several field errors
// (however nested) becomes one GraphQL error per field.
func splitFieldErrors(ctx context.Context, next graphql.Resolver) (any, error) {
	res, err := next(ctx)
	if err == nil {
		return res, nil
	}
	fields, ok := fieldErrorLeaves(err)
	if !ok || len(fields) < 2 {
		return res, err
	}
	for _, fe := range fields[:len(fields)-1] {
		graphql.AddError(ctx, fe)
	}
	return res, fields[len(fields)-1]
}

// fieldErrorLeaves returns the *domain.FieldErrors of err's tree, in order; ok is false when
// some branch of the tree ends in anything else.
func fieldErrorLeaves(err error) (fields []*domain.FieldError, ok bool) {
	ok = true
	var walk func(error)
	walk = func(e error) {
		for e != nil {
			if fe, isField := e.(*domain.FieldError); isField {
				fields = append(fields, fe)
				return
			}
			if joined, isJoined := e.(interface{ Unwrap() []error }); isJoined {
				for _, x := range joined.Unwrap() {
					walk(x)
				}
				return
			}
			e = errors.Unwrap(e)
		}
		ok = false
	}
	walk(err)
	return fields, ok
}
