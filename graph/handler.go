package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"time"

	gqlhandler "github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/99designs/gqlgen/graphql/playground"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/idstream/idstream/commands"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/graph/generated"
)

// Limits of a request.
const (
	// MaxBodyBytes bounds a request body, but for importUsers.
	MaxBodyBytes = 4 << 20
	// MaxImportBodyBytes bounds the body of a request whose operations are all importUsers.
	MaxImportBodyBytes = 64 << 20
	// MaxDepth bounds the nesting of an operation's selections (introspection excepted).
	MaxDepth = 12
	// MaxComplexity bounds an operation's complexity: one per field, list fields weighted by
	// their page size.
	MaxComplexity = 5000
	// minPositionTimeout bounds a query's wait for the read model to pass its minPosition.
	minPositionTimeout = 5 * time.Second
)

// Config is what the API needs; cmd builds it from the configured backends.
type Config struct {
	// Commands is the write side.
	Commands *commands.Directory
	// ReadModel answers queries (*projections.Directory) unless Current is set.
	ReadModel ReadModel
	// Current, when set, returns the live read model; each request takes it once. A rebuild
	// beside the live model switches what it returns (*projections.Manager).
	Current func() ReadModel
	// TimeTravel answers queries with asOf or atPosition; without it they are UNAVAILABLE.
	TimeTravel TimeTravel
	// Audit is the audit trail; without it its queries are UNAVAILABLE.
	Audit Audit
	// Projections is the projection tooling (status, rebuild, verify).
	Projections Projections
	// Revisions reads configuration revisions; without it they are UNAVAILABLE.
	Revisions Revisions
	// History answers diff (*projections.History); without it diff is UNAVAILABLE.
	History History
	// PropagationStatus answers the propagation status queries (*projections.PropagationStatus);
	// without it they are UNAVAILABLE.
	PropagationStatus PropagationStatus
	// PropagationDrift answers drift records and open drift (*projections.PropagationDrift);
	// without it propagationDrift is UNAVAILABLE and the status shows no drift.
	PropagationDrift PropagationDrift
	// PropagationHeld answers the held changes query (*projections.PropagationHeld); without it
	// that query is UNAVAILABLE.
	PropagationHeld PropagationHeld
	// Propagator is the propagation runtime (resync, provision now, preview); without it those
	// mutations are UNAVAILABLE.
	Propagator Propagator
	// Runner feeds ReadModel from the log (*projections.Runner).
	Runner Runner
	// Propagation is the propagation configuration's write side; without it its mutations are
	// UNAVAILABLE.
	Propagation *commands.Propagation
	// PropagationConfig reads the propagation configuration (*projections.PropagationConfig);
	// without it its queries are UNAVAILABLE.
	PropagationConfig PropagationConfig
	// StoreTester answers testStoreConnection; without it, UNAVAILABLE.
	StoreTester StoreTester
	// Secrets opens a store's sealed credentials for testStoreConnection with a storeId.
	Secrets commands.SecretSealer
	// Log receives unexpected errors and panics in full; clients see a generic message.
	Log *slog.Logger
	// Now is the clock token expiry is judged by; time.Now when nil.
	Now func() time.Time
}

// Runner is what the API needs of the projections runner.
type Runner interface {
	// WaitFor returns once the read model has applied every event up to pos, or ctx's error.
	WaitFor(ctx context.Context, pos eventstore.Position) error
	// CatchUp returns once the read model has applied every event committed before the call.
	CatchUp(ctx context.Context) error
}

type handler struct {
	cfg     Config
	graphql http.Handler
}

// NewHandler returns the API's HTTP handler: POST and GET /graphql (every request authenticated
// by its bearer token; 401 with code UNAUTHENTICATED otherwise) and the GraphiQL page at GET /.
func NewHandler(cfg Config) http.Handler {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &handler{cfg: cfg}
	es := generated.NewExecutableSchema(generated.Config{Resolvers: &Resolver{cfg: cfg}, Complexity: complexity()})
	srv := gqlhandler.New(es)
	srv.AddTransport(transport.Websocket{
		KeepAlivePingInterval: 15 * time.Second,
		InitTimeout:           10 * time.Second,
		InitFunc:              h.websocketInit,
	})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.Use(extension.Introspection{})
	srv.Use(depthLimit{max: MaxDepth})
	srv.Use(extension.FixedComplexityLimit(MaxComplexity))
	srv.SetErrorPresenter(errorPresenter(cfg.Log))
	srv.SetRecoverFunc(recoverFunc(cfg.Log))
	srv.AroundFields(splitFieldErrors)
	h.graphql = srv

	mux := http.NewServeMux()
	mux.HandleFunc("/graphql", h.serveGraphQL)
	mux.Handle("GET /{$}", playground.Handler("idstream", "/graphql"))
	return mux
}

// live returns the live read model.
func (h *handler) live() ReadModel {
	if h.cfg.Current != nil {
		return h.cfg.Current()
	}
	return h.cfg.ReadModel
}

// serveGraphQL bounds the body, authenticates, and hands the request to gqlgen with the
// principal, the actor and per-request dataloaders in its context.
func (h *handler) serveGraphQL(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		writeError(w, http.StatusMethodNotAllowed, "use GET or POST", "BAD_REQUEST")
		return
	}
	if r.Method == http.MethodGet && r.Header.Get("Upgrade") != "" && r.Header.Get("Authorization") == "" {
		// A websocket (graphql-transport-ws) authenticates with its connection_init payload's
		// Authorization, as browsers cannot set headers on websockets: see websocketInit.
		h.graphql.ServeHTTP(w, r)
		return
	}
	p, err := h.authenticate(r)
	if err != nil {
		if errors.Is(err, errUnauthenticated) {
			writeError(w, http.StatusUnauthorized, err.Error(), CodeUnauthenticated)
			return
		}
		h.cfg.Log.ErrorContext(r.Context(), "graphql: authenticate", "error", err)
		if errors.Is(err, context.DeadlineExceeded) || codeOf(err) == CodeUnavailable {
			writeError(w, http.StatusServiceUnavailable, "the read model is unavailable", CodeUnavailable)
			return
		}
		writeError(w, http.StatusInternalServerError, internalMessage, CodeInternal)
		return
	}
	if r.Method == http.MethodPost {
		if status, msg := limitBody(r); status != 0 {
			writeError(w, status, msg, "BAD_REQUEST")
			return
		}
	}
	ctx := WithPrincipal(r.Context(), p)
	ctx = commands.WithActor(ctx, actorFor(r, p))
	ctx = withRequestModels(ctx, h.live())
	h.graphql.ServeHTTP(w, r.WithContext(ctx))
}

// websocketInit authenticates a websocket by its connection_init payload's Authorization
// ("Bearer <token>"), unless the upgrade request carried the header (then the principal is in
// ctx already). Subscriptions only read: they carry no actor.
func (h *handler) websocketInit(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	if _, ok := PrincipalFrom(ctx); ok {
		return ctx, nil, nil
	}
	p, err := h.authenticateHeader(ctx, payload.Authorization())
	if err != nil {
		if !errors.Is(err, errUnauthenticated) {
			h.cfg.Log.ErrorContext(ctx, "graphql: authenticate websocket", "error", err)
		}
		return ctx, nil, errors.New("unauthenticated: connection_init needs {\"Authorization\": \"Bearer <token>\"}")
	}
	ctx = WithPrincipal(ctx, p)
	return withRequestModels(ctx, h.live()), nil, nil
}

// rawParams is the JSON body of a POST request.
type rawParams struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName"`
	Variables     map[string]any `json:"variables"`
	Extensions    map[string]any `json:"extensions"`
}

// limitBody reads the body of a POST request (at most MaxImportBodyBytes) and puts it back for
// gqlgen, or returns the status and message refusing it: a body over MaxBodyBytes is allowed
// only when every operation of its document is an importUsers mutation. A body that is not a
// request object is refused here, so that no error message ever echoes a body back.
func limitBody(r *http.Request) (status int, msg string) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxImportBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return http.StatusRequestEntityTooLarge, "request body is larger than 64 MiB"
		}
		return http.StatusBadRequest, "could not read the request body"
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	large := len(body) > MaxBodyBytes
	if !large && !isJSON(r.Header.Get("Content-Type")) {
		return 0, "" // other content types are gqlgen's to refuse
	}
	var params rawParams
	if err := json.Unmarshal(body, &params); err != nil {
		return http.StatusBadRequest, "request body is not a JSON object with query, operationName, variables and extensions"
	}
	if large && !onlyImportUsers(params.Query) {
		return http.StatusRequestEntityTooLarge, "request body is larger than 4 MiB (only importUsers may send up to 64 MiB)"
	}
	return 0, ""
}

// isJSON reports whether gqlgen's POST transport would decode the body as JSON.
func isJSON(contentType string) bool {
	mediaType, _, err := mime.ParseMediaType(contentType)
	return err == nil && mediaType == "application/json"
}

// writeError answers a request refused before GraphQL execution, in the GraphQL response shape.
func writeError(w http.ResponseWriter, status int, msg, code string) {
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="idstream"`)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []any{map[string]any{"message": msg, "extensions": map[string]any{"code": code}}},
	})
}
