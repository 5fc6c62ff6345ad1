package graph

import (
	"context"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/idstream/idstream/graph/generated"
	"github.com/idstream/idstream/graph/model"
)

// depthLimit refuses an operation whose selections nest deeper than max (fragments expanded;
// introspection fields are not counted, so that GraphiQL's introspection query passes).
type depthLimit struct{ max int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = depthLimit{}

func (depthLimit) ExtensionName() string                   { return "DepthLimit" }
func (depthLimit) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext runs after validation, so fragments exist and do not cycle; depth
// still guards against a cycle so that it always ends.
func (d depthLimit) MutateOperationContext(_ context.Context, opCtx *graphql.OperationContext) *gqlerror.Error {
	if opCtx.Operation == nil {
		return nil
	}
	if depth := selectionDepth(opCtx.Operation.SelectionSet, map[string]bool{}, d.max+1); depth > d.max {
		err := gqlerror.Errorf("operation nests %d levels deep or more, which exceeds the limit of %d", depth, d.max)
		err.Extensions = map[string]any{"code": "DEPTH_LIMIT_EXCEEDED"}
		return err
	}
	return nil
}

// selectionDepth returns the depth of set, counting at most up to stop.
func selectionDepth(set ast.SelectionSet, inFragment map[string]bool, stop int) int {
	if stop <= 0 {
		return 0
	}
	deepest := 0
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			if strings.HasPrefix(s.Name, "__") {
				continue
			}
			d = 1 + selectionDepth(s.SelectionSet, inFragment, stop-1)
		case *ast.InlineFragment:
			d = selectionDepth(s.SelectionSet, inFragment, stop)
		case *ast.FragmentSpread:
			if s.Definition == nil || inFragment[s.Name] {
				continue
			}
			inFragment[s.Name] = true
			d = selectionDepth(s.Definition.SelectionSet, inFragment, stop)
			delete(inFragment, s.Name)
		}
		deepest = max(deepest, d)
	}
	return deepest
}

// onlyImportUsers reports whether every operation of query is a mutation selecting importUsers
// (with __typename at most) and nothing else: the one request allowed a body over 4 MiB.
func onlyImportUsers(query string) bool {
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil || len(doc.Operations) == 0 || len(doc.Fragments) > 0 {
		return false
	}
	for _, op := range doc.Operations {
		if op.Operation != ast.Mutation {
			return false
		}
		for _, sel := range op.SelectionSet {
			f, ok := sel.(*ast.Field)
			if !ok || (f.Name != "importUsers" && f.Name != "__typename") {
				return false
			}
		}
	}
	return true
}

// Nested lists without a page size count as this many elements.
const nestedListWeight = 20

// complexity weighs list fields: a page by its first argument, nested lists by nestedListWeight.
func complexity() generated.ComplexityRoot {
	var c generated.ComplexityRoot
	page := func(child int, first *int) int {
		n := 50
		if first != nil && *first > 0 {
			n = *first
		}
		return 1 + n*child
	}
	c.Query.Users = func(child int, _ string, _ *string, first *int, _ *string, _ *string, _ *time.Time, _ *string) int {
		return page(child, first)
	}
	c.Query.Groups = func(child int, _ string, _ *string, first *int, _ *string, _ *string, _ *time.Time, _ *string) int {
		return page(child, first)
	}
	c.Query.AuditEvents = func(child int, _ string, _ *model.AuditFilter, first *int, _ *string, _ *string) int {
		return page(child, first)
	}
	c.Query.PropagationRevisions = func(child int, _ string, first *int, _ *string, _ *string) int {
		return page(child, first)
	}
	c.Query.PropagationAccounts = func(child int, _, _ string, _ *model.PropagationStatusAccountState, first *int, _, _ *string) int {
		return page(child, first)
	}
	c.User.Groups = func(child int, _ *bool) int { return 1 + nestedListWeight*child }
	c.Group.Members = func(child int, _ *bool) int { return 1 + nestedListWeight*child }
	c.Environment.Populations = func(child int) int { return 1 + nestedListWeight*child }
	return c
}
