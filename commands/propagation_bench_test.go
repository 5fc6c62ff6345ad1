package commands

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/idstream/idstream/commands/secret"
	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore/embedded"
)

// BenchmarkSetPropagationMapping measures one configuration edit on an environment whose
// propagation stream already holds about `history` events: each edit reloads the whole stream
// (configuration edits are rare; this shows what a long history costs).
func BenchmarkSetPropagationMapping(b *testing.B) {
	for _, history := range []int{10, 1000} {
		b.Run(fmt.Sprintf("history=%d", history), func(b *testing.B) {
			store, err := embedded.Open(b.TempDir(), embedded.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			reg, err := NewRegistry()
			if err != nil {
				b.Fatal(err)
			}
			d := &Deps{Store: store, Registry: reg, Now: func() time.Time { return time.Now().UTC() },
				NewID: func() string { return uuid.Must(uuid.NewV7()).String() }}
			sealer, err := secret.NewSealer(make([]byte, secret.KeySize))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			env, err := NewCreateEnvironment(d).Handle(ctx, CreateEnvironment{Name: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			e := env.EnvironmentID
			prop := NewPropagation(d, PropagationPorts{Secrets: sealer})
			dir, err := prop.CreateStore.Handle(ctx, CreatePropagationStore{EnvironmentID: e, Name: "Directory", Type: domain.StoreDirectory})
			if err != nil {
				b.Fatal(err)
			}
			app, err := prop.CreateStore.Handle(ctx, CreatePropagationStore{EnvironmentID: e, Name: "App", Type: domain.StoreSCIM,
				Credentials: map[string]string{"token": "t"}})
			if err != nil {
				b.Fatal(err)
			}
			plan, err := prop.CreatePlan.Handle(ctx, CreatePropagationPlan{EnvironmentID: e, Name: "Main"})
			if err != nil {
				b.Fatal(err)
			}
			rule, err := prop.CreateRule.Handle(ctx, CreatePropagationRule{EnvironmentID: e, PlanID: plan.Plan.ID, Name: "r",
				SourceStoreID: dir.Store.ID, TargetStoreID: app.Store.ID})
			if err != nil {
				b.Fatal(err)
			}
			m := domain.AttributeMapping{ID: d.NewID(), Target: "userName", Source: domain.MapConstant}
			set := func(v string) {
				m.Value = v
				if _, err := prop.SetMapping.Handle(ctx, SetPropagationMapping{EnvironmentID: e, RuleID: rule.Rule.ID, Mapping: m}); err != nil {
					b.Fatal(err)
				}
			}
			for i := range history {
				set(fmt.Sprint("h", i))
			}
			b.ResetTimer()
			for i := range b.N {
				set(fmt.Sprint("b", i))
			}
		})
	}
}
