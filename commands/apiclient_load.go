package commands

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// loadAPIClient loads API client clientID. A client that is missing or deleted is ErrNotFound
// on field; so is one of another environment than envID, unless envID is "" (any).
func (d *Deps) loadAPIClient(ctx context.Context, field, envID, clientID string) (*domain.APIClient, eventstore.ExpectedRevision, error) {
	if err := validID(field, clientID); err != nil {
		return nil, eventstore.NoStream, err
	}
	c := &domain.APIClient{}
	expected, err := d.load(ctx, domain.StreamName(domain.CategoryAPIClient, clientID), c)
	if err != nil {
		return nil, expected, err
	}
	if !c.Exists || (envID != "" && c.EnvironmentID != "" && c.EnvironmentID != envID) {
		return nil, expected, &domain.FieldError{Field: field, Reason: "no API client " + clientID, Kind: domain.ErrNotFound}
	}
	return c, expected, nil
}

// tokenPrefix starts every bearer token idstream issues.
const tokenPrefix = "ids_"

// newToken returns a bearer token, "ids_" and 32 random bytes in unpadded base64url, and its
// digest as stored (HashToken).
func newToken() (token, digest string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("new token: %w", err)
	}
	token = tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token), nil
}

// HashToken returns the hex SHA-256 of a bearer token: what apiclient.token_issued stores and
// what authentication looks tokens up by. Tokens are 256-bit random, so a fast hash suffices.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
