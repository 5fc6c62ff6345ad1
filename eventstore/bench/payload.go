package bench

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/idstream/idstream/eventstore"
)

// PayloadBytes is the size the generated payloads aim at; each is within a few bytes of it.
const PayloadBytes = 500

// payloadPool is the number of distinct payloads each generator cycles through.
const payloadPool = 512

// Vocabulary of the generated identities, "|"-separated.
const (
	givenNames  = "Ada|Bjorn|Chiara|Dmitri|Emeka|Fatima|Goran|Hana|Ines|Jun|Kwame|Leila|Mateo|Nadia|Oskar|Priya|Quentin|Rosa|Sven|Tomoko|Ugo|Valentina|Wei|Ximena|Yusuf|Zofia"
	familyNames = "Abara|Bianchi|Castillo|Dubois|Eriksen|Fujita|Gonzalez|Haddad|Ivanova|Jensen|Kowalski|Lindqvist|Moreau|Nakamura|Okafor|Petrov|Quispe|Rahman|Schmidt|Tanaka|Usman|Virtanen|Wojcik|Xu|Yilmaz|Zhang"
	departments = "Engineering|Finance|Human Resources|Legal|Marketing|Operations|Procurement|Research|Sales|Security|Support"
	titles      = "Analyst|Architect|Associate|Consultant|Director|Engineer|Lead|Manager|Specialist|Vice President"
	cities      = "Amsterdam|Austin|Bangalore|Berlin|Bogota|Cape Town|Dublin|Lagos|Lisbon|Melbourne|Montreal|Osaka|Paris|Seoul|Warsaw"
	domains     = "example.com|example.org|corp.example.net|acme.example|globex.example"
	locales     = "en-US|en-GB|de-DE|fr-FR|ja-JP|pt-BR|es-ES|pl-PL|ko-KR"
	eventTypes  = "user.created|user.updated|user.email_changed|user.enabled|user.attributes_changed"
)

// userPayload is the shape of a generated event: an identity and its attributes.
type userPayload struct {
	UserID         string            `json:"userId"`
	Username       string            `json:"username"`
	Email          string            `json:"email"`
	Name           map[string]string `json:"name"`
	Title          string            `json:"title"`
	Department     string            `json:"department"`
	EmployeeNumber string            `json:"employeeNumber"`
	ExternalID     string            `json:"externalId"`
	Phone          string            `json:"phone"`
	Locale         string            `json:"locale"`
	City           string            `json:"city"`
	ManagerID      string            `json:"managerId"`
	Groups         []string          `json:"groups"`
	Enabled        bool              `json:"enabled"`
	Note           string            `json:"note"`
}

// generator produces events for one writer. It is not safe for concurrent use.
type generator struct {
	rng      *rand.Rand
	ids      *rand.ChaCha8
	payloads [][]byte
	env      string
	actors   []string
	causes   []string
	types    []string
	next     int
}

// newGenerator returns a generator whose content is determined by seed.
func newGenerator(seed uint64) *generator {
	var key [32]byte
	for i := range 4 {
		key[i*8] = byte(seed >> (8 * i))
	}
	key[31] = 0x5a
	g := &generator{
		rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)),
		ids: rand.NewChaCha8(key),
	}
	g.env = "env-" + g.hex(8)
	for range 8 {
		g.actors = append(g.actors, "user-"+g.uuid())
	}
	g.actors = append(g.actors, "connector:scim-slack", "connector:ldap-corp", "system:sync")
	for range 64 {
		g.causes = append(g.causes, g.uuid())
	}
	g.types = strings.Split(eventTypes, "|")
	for range payloadPool {
		g.payloads = append(g.payloads, g.payload())
	}
	return g
}

// pick returns one of the "|"-separated words of list.
func (g *generator) pick(list string) string {
	words := strings.Split(list, "|")
	return words[g.rng.IntN(len(words))]
}

func (g *generator) hex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[g.rng.IntN(16)]
	}
	return string(b)
}

func (g *generator) uuid() string {
	return g.hex(8) + "-" + g.hex(4) + "-7" + g.hex(3) + "-a" + g.hex(3) + "-" + g.hex(12)
}

// payload returns one JSON identity of close to PayloadBytes bytes.
func (g *generator) payload() []byte {
	given, family := g.pick(givenNames), g.pick(familyNames)
	user := fmt.Sprintf("%s.%s%d", given, family, g.rng.IntN(1000))
	p := userPayload{
		UserID:         g.uuid(),
		Username:       user,
		Email:          user + "@" + g.pick(domains),
		Name:           map[string]string{"given": given, "family": family, "formatted": given + " " + family},
		Title:          g.pick(titles),
		Department:     g.pick(departments),
		EmployeeNumber: fmt.Sprintf("E%07d", g.rng.IntN(10_000_000)),
		ExternalID:     g.hex(24),
		Phone:          fmt.Sprintf("+%d %03d %04d %04d", 1+g.rng.IntN(98), g.rng.IntN(1000), g.rng.IntN(10000), g.rng.IntN(10000)),
		Locale:         g.pick(locales),
		City:           g.pick(cities),
		ManagerID:      g.uuid(),
		Enabled:        g.rng.IntN(10) > 0,
	}
	for range 1 + g.rng.IntN(3) {
		p.Groups = append(p.Groups, "grp-"+g.hex(12))
	}
	b, _ := json.Marshal(p) // strings, a map and a bool always marshal
	if pad := PayloadBytes - len(b); pad > 0 {
		p.Note = g.hex(pad)
		b, _ = json.Marshal(p)
	}
	return b
}

// events returns n new events with fresh UUIDv7 IDs, payloads from the pool, and every
// metadata field set.
func (g *generator) events(n int) ([]eventstore.EventData, error) {
	out := make([]eventstore.EventData, n)
	now := time.Now().UTC()
	for i := range out {
		id, err := eventstore.NewEventID(g.ids)
		if err != nil {
			return nil, err
		}
		data := g.payloads[g.next%len(g.payloads)]
		g.next++
		out[i] = eventstore.EventData{
			ID:             id,
			Type:           g.types[g.next%len(g.types)],
			PayloadVersion: 1,
			Data:           data,
			Metadata: eventstore.Metadata{
				EnvironmentID: g.env,
				Actor:         g.actors[g.next%len(g.actors)],
				CorrelationID: id.String(),
				CausationID:   g.causes[g.next%len(g.causes)],
				OccurredAt:    now,
			},
		}
	}
	return out, nil
}
