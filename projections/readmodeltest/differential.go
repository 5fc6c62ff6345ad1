package readmodeltest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/projections"
)

// Differential applies one randomized workload (seeded) to fresh stores from two factories, in
// batches, and after every few batches asks both every query the API asks, failing on the first
// answer that differs (values compared by their JSON, errors by their text).
func Differential(t *testing.T, seed uint64, batches int, a, b Factory) {
	ha, hb := a(t), b(t)
	w := NewWorkload(seed)
	for i := range batches {
		payloads := w.Batch()
		ha.Apply(t, Changes(&w.pos, &w.now, payloads...))
		w.pos -= uint64(len(payloads))
		w.now = w.now.Add(-time.Duration(len(payloads)) * time.Second)
		hb.Apply(t, Changes(&w.pos, &w.now, payloads...))
		if i%5 == 4 || i == batches-1 {
			w.Compare(t, fmt.Sprintf("seed %d batch %d", seed, i), ha.Store, hb.Store)
		}
	}
}

// Workload generates a randomized directory workload: environments, users created, updated,
// moved, deleted, direct and dynamic groups, nesting (cycles included), schema changes, API
// clients and tokens, the odd environment deleted.
type Workload = workload

// NewWorkload returns the workload of seed.
func NewWorkload(seed uint64) *Workload {
	return &workload{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), now: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC),
		users: map[string][]string{}, groups: map[string][]string{}}
}

type workload struct {
	r       *rand.Rand
	pos     uint64
	now     time.Time
	n       int
	envs    []string // every environment created (deleted ones are still asked about)
	live    []string
	users   map[string][]string // by environment: IDs ever created
	groups  map[string][]string
	clients []string
	hashes  []string
}

var sites = []string{"paris", "Paris", "london", "berlin", ""}

func (w *workload) pick(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return s[w.r.IntN(len(s))]
}

// Batch returns the next batch of payloads.
func (w *workload) Batch() []any {
	var out []any
	for range 1 + w.r.IntN(12) {
		out = append(out, w.op()...)
	}
	return out
}

func (w *workload) op() []any {
	w.n++
	if len(w.live) < 2 || w.r.IntN(300) == 0 {
		env := fmt.Sprintf("env-%d", w.n)
		w.envs, w.live = append(w.envs, env), append(w.live, env)
		return []any{domain.PopulationCreated{EnvironmentID: env, PopulationID: env + "-p0", Name: "P0"},
			domain.EnvironmentCreated{EnvironmentID: env, Name: env, DefaultPopulationID: env + "-p0", PasswordPolicy: domain.DefaultPasswordPolicy()},
			domain.PopulationCreated{EnvironmentID: env, PopulationID: env + "-p1", Name: "P1"},
			domain.SchemaAttributeAdded{EnvironmentID: env, Attribute: domain.AttributeDef{Name: "site", Type: domain.AttributeString}},
			domain.SchemaAttributeAdded{EnvironmentID: env, Attribute: domain.AttributeDef{Name: "tags", Type: domain.AttributeString, MultiValued: true}}}
	}
	env := w.pick(w.live)
	uid := w.pick(w.users[env])
	gid := w.pick(w.groups[env])
	pop := env + "-p" + fmt.Sprint(w.r.IntN(2))
	custom := func() domain.CustomValues {
		c := domain.CustomValues{}
		if s := w.pick(sites); s != "" {
			c["site"] = json.RawMessage(`"` + s + `"`)
		}
		if w.r.IntN(2) == 0 {
			c["tags"] = json.RawMessage(fmt.Sprintf(`["t%d", "T%d"]`, w.r.IntN(3), w.r.IntN(3)))
		}
		if w.r.IntN(4) == 0 {
			c["extra"] = json.RawMessage(`{"z": 1, "a": [true]}`)
		}
		return c
	}
	profile := func() domain.Profile {
		return domain.Profile{Username: fmt.Sprintf("User%d", w.n), Email: fmt.Sprintf("u%d@Example.com", w.r.IntN(50)),
			Name:  domain.Name{Given: w.pick([]string{"Ann", "bob", "Cé"}), Family: fmt.Sprintf("F%d", w.r.IntN(4))},
			Title: w.pick([]string{"", "CTO", "dev"})}
	}
	switch k := w.r.IntN(100); {
	case k < 35:
		id := fmt.Sprintf("0190%04d-0000-7000-8000-%012d", w.r.IntN(10000), w.n)
		w.users[env] = append(w.users[env], id)
		return []any{domain.UserCreated{EnvironmentID: env, UserID: id, PopulationID: pop, Enabled: w.r.IntN(4) > 0, Profile: profile(), Custom: custom()}}
	case k < 45:
		return []any{domain.UserUpdated{EnvironmentID: env, UserID: uid, Profile: profile(), Custom: custom()}}
	case k < 50:
		return []any{domain.UserPopulationChanged{EnvironmentID: env, UserID: uid, To: pop}}
	case k < 54:
		return []any{domain.UserDeleted{EnvironmentID: env, UserID: uid}}
	case k < 57:
		return []any{domain.UserDisabled{EnvironmentID: env, UserID: uid}, domain.UserLocked{EnvironmentID: env, UserID: uid, Reason: "ADMIN"}}
	case k < 62:
		id := fmt.Sprintf("g-%d", w.n)
		w.groups[env] = append(w.groups[env], id)
		if w.r.IntN(2) == 0 {
			return []any{domain.GroupCreated{EnvironmentID: env, GroupID: id, Name: id, Kind: domain.GroupDirect}}
		}
		filter := w.pick([]string{`site eq "paris"`, `tags eq "t1" or userName sw "user1"`, `not (enabled eq true)`, `extra pr`,
			`site eq null and name.familyName eq "F1"`, `emails co "u1"`})
		return []any{domain.GroupCreated{EnvironmentID: env, GroupID: id, Name: id, Kind: domain.GroupDynamic, Filter: filter}}
	case k < 72:
		return []any{domain.GroupMemberAdded{EnvironmentID: env, GroupID: gid, UserID: uid}}
	case k < 75:
		return []any{domain.GroupMemberRemoved{EnvironmentID: env, GroupID: gid, UserID: uid}}
	case k < 80:
		return []any{domain.GroupNested{EnvironmentID: env, ParentID: gid, ChildID: w.pick(w.groups[env])}}
	case k < 82:
		return []any{domain.GroupUnnested{EnvironmentID: env, ParentID: gid, ChildID: w.pick(w.groups[env])}}
	case k < 83:
		return []any{domain.GroupDeleted{EnvironmentID: env, GroupID: gid}}
	case k < 85:
		return []any{domain.GroupUpdated{EnvironmentID: env, GroupID: gid, Name: "renamed " + gid, Filter: `site sw "p"`}}
	case k < 87:
		return []any{domain.SchemaAttributeAdded{EnvironmentID: env, Attribute: domain.AttributeDef{Name: "extra", Type: domain.AttributeJSON}}}
	case k < 88:
		return []any{domain.SchemaAttributeRemoved{EnvironmentID: env, Name: w.pick([]string{"extra", "site"})}}
	case k < 92:
		id := fmt.Sprintf("c-%d", w.n)
		w.clients = append(w.clients, id)
		ce := env
		if w.r.IntN(3) == 0 {
			ce = ""
		}
		return []any{domain.APIClientCreated{EnvironmentID: ce, ClientID: id, Name: id}}
	case k < 96:
		h := fmt.Sprintf("%064x", w.n)
		w.hashes = append(w.hashes, h)
		var exp time.Time
		if w.r.IntN(2) == 0 {
			exp = w.now.Add(time.Duration(w.r.IntN(60)) * time.Second)
		}
		return []any{domain.APIClientTokenIssued{ClientID: w.pick(w.clients), TokenID: fmt.Sprintf("t-%d", w.n), SHA256: h, ExpiresAt: exp}}
	case k < 98:
		return []any{domain.APIClientTokenRevoked{ClientID: w.pick(w.clients), TokenID: fmt.Sprintf("t-%d", w.n-w.r.IntN(20))}}
	case k < 99:
		return []any{domain.APIClientDeleted{ClientID: w.pick(w.clients)}}
	case w.r.IntN(4) == 0:
		for i, e := range w.live {
			if e == env {
				w.live = append(w.live[:i:i], w.live[i+1:]...)
			}
		}
		return []any{domain.EnvironmentDeleted{EnvironmentID: env}}
	default:
		return []any{domain.UserEnabled{EnvironmentID: env, UserID: uid}, domain.UserUnlocked{EnvironmentID: env, UserID: uid}}
	}
}

// Compare asks a and b every query about what the workload created so far (token validity at
// the workload's clock) and fails on the first difference: values compared by their JSON,
// errors by their text.
func (w *workload) Compare(t testing.TB, at string, a, b ReadModel) {
	t.Helper()
	check := func(what string, fa, fb func() (any, error)) {
		t.Helper()
		va, ea := fa()
		vb, eb := fb()
		if (ea == nil) != (eb == nil) || (ea != nil && ea.Error() != eb.Error()) {
			t.Fatalf("%s: %s: errors differ: %v / %v", at, what, ea, eb)
		}
		if ea != nil {
			return
		}
		ja, _ := json.Marshal(va)
		jb, _ := json.Marshal(vb)
		if string(ja) != string(jb) {
			t.Fatalf("%s: %s:\n first  %s\n second %s", at, what, ja, jb)
		}
	}
	q := func(s ReadModel) ReadModel { return s }
	check("Environments", func() (any, error) { return a.Environments(), nil }, func() (any, error) { return b.Environments(), nil })
	envs := append([]string{"env-unknown"}, w.envs...)
	for _, env := range envs {
		for _, s := range []struct {
			what string
			f    func(ReadModel) (any, error)
		}{
			{"Environment", func(s ReadModel) (any, error) { return s.Environment(env) }},
			{"Schema", func(s ReadModel) (any, error) { return s.Schema(env) }},
			{"PasswordPolicy", func(s ReadModel) (any, error) { return s.PasswordPolicy(env) }},
			{"Populations", func(s ReadModel) (any, error) { return s.Populations(env) }},
			{"Population", func(s ReadModel) (any, error) { return s.Population(env, env+"-p1") }},
			{"Configuration", func(s ReadModel) (any, error) { return s.Configuration(env) }},
			{"APIClients", func(s ReadModel) (any, error) { return s.APIClients(env) }},
			{"Groups", func(s ReadModel) (any, error) { return s.Groups(env, projections.GroupQuery{}) }},
			{"Groups filtered", func(s ReadModel) (any, error) {
				return s.Groups(env, projections.GroupQuery{Filter: `kind eq "DYNAMIC" or name sw "renamed"`, First: 3})
			}},
			{"UsersByIDs", func(s ReadModel) (any, error) { return s.UsersByIDs(env, append(w.users[env], "nobody")) }},
		} {
			check(s.what+" "+env, func() (any, error) { return s.f(q(a)) }, func() (any, error) { return s.f(q(b)) })
		}
		for _, uq := range []projections.UserQuery{{}, {First: 7}, {PopulationIDs: []string{}}, {PopulationIDs: []string{env + "-p1"}}, {PopulationIDs: []string{"gone"}},
			{Filter: `populationId eq "gone"`}, {Filter: `populationId eq "` + env + `-P0"`},
			{PopulationIDs: []string{env + "-p0", env + "-p1"}, First: 3}, {Filter: `site eq "PARIS"`}, {Filter: `tags eq "t2"`, First: 2},
			{Filter: `userName sw "user1" and not (title eq "cto")`}, {Filter: `emails ew "example.COM" or extra pr`, First: 5},
			{Filter: `email eq "u7@example.com"`}, {Filter: `populationId eq "` + env + `-p1" and enabled eq true`},
			{Filter: `name.givenName eq "cé"`, PopulationIDs: []string{env + "-p0"}}, {Filter: `extra eq "{\"z\":1,\"a\":[true]}"`},
			{Filter: `nosuch pr`}, {After: "%%%"}} {
			after := ""
			for page := 0; page < 4; page++ {
				uq := uq
				if uq.After == "" {
					uq.After = after
				}
				var pa projections.UserPage
				check(fmt.Sprintf("Users %s %+v", env, uq), func() (any, error) { p, err := a.Users(env, uq); pa = p; return p, err },
					func() (any, error) { return b.Users(env, uq) })
				if !pa.HasNextPage {
					break
				}
				after = pa.EndCursor
			}
		}
		for _, id := range w.users[env] {
			check("User "+id, func() (any, error) { return a.User(env, id) }, func() (any, error) { return b.User(env, id) })
			for _, tr := range []bool{false, true} {
				check(fmt.Sprint("UserGroups ", id, tr), func() (any, error) { return a.UserGroups(env, id, tr) },
					func() (any, error) { return b.UserGroups(env, id, tr) })
			}
		}
		for _, id := range w.groups[env] {
			check("Group "+id, func() (any, error) { return a.Group(env, id) }, func() (any, error) { return b.Group(env, id) })
			for _, tr := range []bool{false, true} {
				check(fmt.Sprint("GroupMembers ", id, tr), func() (any, error) { return a.GroupMembers(env, id, tr) },
					func() (any, error) { return b.GroupMembers(env, id, tr) })
			}
		}
	}
	type usage interface {
		UsersWithAttribute(ctx context.Context, env, name string) (int, error)
		PopulationUserCount(ctx context.Context, env, pop string) (int, error)
	}
	if ua, ok := a.(usage); ok {
		if ub, ok := b.(usage); ok {
			for _, env := range envs {
				for _, name := range []string{"site", "TAGS", "extra", "none"} {
					check("UsersWithAttribute "+env+" "+name, func() (any, error) { return ua.UsersWithAttribute(context.Background(), env, name) },
						func() (any, error) { return ub.UsersWithAttribute(context.Background(), env, name) })
				}
				check("PopulationUserCount "+env, func() (any, error) { return ua.PopulationUserCount(context.Background(), env, env+"-p0") },
					func() (any, error) { return ub.PopulationUserCount(context.Background(), env, env+"-p0") })
			}
		}
	}
	check("APIClients org", func() (any, error) { return a.APIClients("") }, func() (any, error) { return b.APIClients("") })
	for _, id := range w.clients {
		check("APIClient "+id, func() (any, error) { return a.APIClient(id) }, func() (any, error) { return b.APIClient(id) })
	}
	for _, h := range w.hashes {
		tokenOf := func(s ReadModel) func() (any, error) {
			return func() (any, error) {
				c, tok, ok := s.APIClientByTokenHash(h, w.now)
				return []any{c, tok, ok}, nil
			}
		}
		check("APIClientByTokenHash "+h, tokenOf(a), tokenOf(b))
	}
}
