package pgstore

import (
	"errors"
	"testing"

	"github.com/idstream/idstream/domain"
)

func TestOptionsSchemaFromTheURL(t *testing.T) {
	o := Options{URL: "postgres://u:pw@h:5432/db?sslmode=disable&schema=tenant_a"}
	if err := o.normalize(); err != nil {
		t.Fatal(err)
	}
	if o.Schema != "tenant_a" || o.URL != "postgres://u:pw@h:5432/db?sslmode=disable" {
		t.Fatalf("schema %q url %q", o.Schema, o.URL)
	}
	o = Options{URL: "postgres://h/db"}
	if err := o.normalize(); err != nil || o.Schema != "idstream" {
		t.Fatalf("default schema %q, %v", o.Schema, err)
	}
	for _, bad := range []Options{{URL: "postgres://h/db?schema=Bad-Name"}, {URL: "postgres://h/db", Schema: "x;drop"}} {
		err := bad.normalize()
		var fe *domain.FieldError
		if !errors.As(err, &fe) || fe.Field != "schema" {
			t.Fatalf("%+v: %v, want a field error on schema", bad, err)
		}
	}
	if err := (&Options{}).normalize(); err == nil {
		t.Fatal("no URL accepted")
	}
}
