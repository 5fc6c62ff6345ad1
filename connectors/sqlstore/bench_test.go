package sqlstore_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/connectors/connectortest"
)

const benchWorkers = 16 // the runtime's workers

// parallel runs n calls of fn from benchWorkers goroutines and reports calls per second.
func parallel(b *testing.B, n int, fn func(i int) error) { parallelUsers(b, n, n, fn) }

// parallelUsers is parallel where the n calls write users rows in all.
func parallelUsers(b *testing.B, n, users int, fn func(i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, benchWorkers)
	start := time.Now()
	for range benchWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(users)/elapsed.Seconds(), "users/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkCreate: the connector's Create (SCIM attributes mapped to 10 columns, INSERT … ON
// CONFLICT DO NOTHING RETURNING) from 16 goroutines, b.N users.
func BenchmarkCreate(b *testing.B) {
	schema, _ := freshSchema(b)
	c := open(b, config(schema, nil))
	defer c.Close()
	b.ResetTimer()
	parallel(b, b.N, func(i int) error {
		_, err := c.Create(context.Background(), connectors.KindUser, connectortest.User(fmt.Sprintf("bench%07d@example.com", i)))
		return err
	})
}

// BenchmarkRawInsert: the same rows by a plain pgx INSERT from a pool of the same size, the
// ceiling the connector is measured against.
func BenchmarkRawInsert(b *testing.B) {
	schema, _ := freshSchema(b)
	pc, err := pgxpool.ParseConfig(pgURL())
	if err != nil {
		b.Fatal(err)
	}
	pc.MaxConns = 20
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	sql := "INSERT INTO " + schema + `.users (id, user_name, display_name, given_name, family_name, work_email, home_email,
		nick_name, active, external_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`
	b.ResetTimer()
	parallel(b, b.N, func(i int) error {
		n := fmt.Sprintf("bench%07d@example.com", i)
		_, err := pool.Exec(context.Background(), sql, uuid.NewString(), n, "Test "+n, "Given", "Family", n, "home."+n, "nick", true, "ext-"+n)
		return err
	})
}

// BenchmarkRawInsertBatched: the same rows in transactions of 100 (pgx.Batch), to measure
// what a batching path (a CreateMany) could gain over per-row commits.
func BenchmarkRawInsertBatched(b *testing.B) {
	schema, _ := freshSchema(b)
	pool, err := pgxpool.New(context.Background(), pgURL())
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	sql := "INSERT INTO " + schema + `.users (id, user_name, display_name, given_name, family_name, work_email, home_email,
		nick_name, active, external_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`
	const per = 100
	b.ResetTimer()
	batches := (b.N + per - 1) / per
	parallelUsers(b, batches, b.N, func(k int) error {
		tx, err := pool.Begin(context.Background())
		if err != nil {
			return err
		}
		batch := &pgx.Batch{}
		for i := k * per; i < min((k+1)*per, b.N); i++ {
			n := fmt.Sprintf("bench%07d@example.com", i)
			batch.Queue(sql, uuid.NewString(), n, "Test "+n, "Given", "Family", n, "home."+n, "nick", true, "ext-"+n)
		}
		if err := tx.SendBatch(context.Background(), batch).Close(); err != nil {
			return err
		}
		return tx.Commit(context.Background())
	})
}

// BenchmarkCreateMany: the connector's batching path, 100 users a call, from 16 goroutines.
func BenchmarkCreateMany(b *testing.B) {
	schema, _ := freshSchema(b)
	c := open(b, config(schema, nil)).(connectors.BatchCreator)
	const per = 100
	b.ResetTimer()
	batches := (b.N + per - 1) / per
	parallelUsers(b, batches, b.N, func(k int) error {
		var attrs []map[string]any
		for i := k * per; i < min((k+1)*per, b.N); i++ {
			attrs = append(attrs, connectortest.User(fmt.Sprintf("bench%07d@example.com", i)))
		}
		_, errs := c.CreateMany(context.Background(), connectors.KindUser, attrs)
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	})
}
