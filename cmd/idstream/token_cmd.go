package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// tokenCreateOptions are the flags of "idstream token create".
type tokenCreateOptions struct {
	server      serverFlags
	Environment string
	Roles       []string
	Population  string
	Name        string
}

func newTokenCommand(lookupEnv func(string) (string, bool), stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Issue API tokens (create: from a running idstream; bootstrap: offline recovery of the admin token)"}
	cmd.AddCommand(newTokenCreateCommand(lookupEnv, stdout, stderr), newTokenBootstrapCommand(lookupEnv, stdout, stderr))
	return cmd
}

func newTokenCreateCommand(lookupEnv func(string) (string, bool), stdout, stderr io.Writer) *cobra.Command {
	o := tokenCreateOptions{}
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create an API client with roles in one environment and print its bearer token (last)",
		Long: "Creates an API client through the server's GraphQL API (createApiClient) and prints its bearer\n" +
			"token last, on its own line: the token is shown once and stored only hashed. The calling token\n" +
			"(--token or IDSTREAM_TOKEN) must be an ENVIRONMENT_ADMIN of that environment.",
		Example: "  idstream token create --environment 0192f... --role IDENTITY_DATA_READ_ONLY",
		Args:    cobra.NoArgs,
	}
	fs := cmd.Flags()
	fs.StringVar(&o.server.URL, "url", "", "server base URL (env IDSTREAM_URL; default http://"+DefaultConfig().Listen+")")
	fs.StringVar(&o.server.Token, "token", "", "API token of an environment admin (env IDSTREAM_TOKEN)")
	fs.StringVar(&o.Environment, "environment", "", "environment ID the new client belongs to (required)")
	fs.StringSliceVar(&o.Roles, "role", nil, "role to grant, repeatable: ENVIRONMENT_ADMIN, IDENTITY_DATA_ADMIN, IDENTITY_DATA_READ_ONLY, AUDITOR")
	fs.StringVar(&o.Population, "population", "", "narrow the roles to one population of the environment")
	fs.StringVar(&o.Name, "name", "", "the client's name (default: cli-<role>)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := o.server.resolve(lookupEnv); err != nil {
			return err
		}
		return tokenCreate(cmd.Context(), o, stdout, stderr)
	}
	return cmd
}

const createAPIClientMutation = `mutation($input: CreateApiClientInput!) {
  createApiClient(input: $input) { apiClient { id name } token position }
}`

func tokenCreate(ctx context.Context, o tokenCreateOptions, stdout, stderr io.Writer) error {
	var problems []error
	if o.Environment == "" {
		problems = append(problems, errors.New("--environment is required"))
	}
	if len(o.Roles) == 0 {
		problems = append(problems, errors.New("--role is required (at least one)"))
	}
	if err := errors.Join(problems...); err != nil {
		return err
	}
	if o.Name == "" {
		o.Name = "cli-" + strings.ToLower(strings.Join(o.Roles, "-"))
	}
	roles := make([]map[string]any, len(o.Roles))
	for i, r := range o.Roles {
		roles[i] = map[string]any{"role": strings.ToUpper(r), "environmentId": o.Environment}
		if o.Population != "" {
			roles[i]["populationId"] = o.Population
		}
	}
	var out struct {
		CreateAPIClient struct {
			APIClient struct{ ID, Name string } `json:"apiClient"`
			Token     string                    `json:"token"`
		} `json:"createApiClient"`
	}
	vars := map[string]any{"input": map[string]any{"environmentId": o.Environment, "name": o.Name, "roles": roles}}
	if err := newGQLClient(o.server.URL, o.server.Token).do(ctx, createAPIClientMutation, vars, &out); err != nil {
		return fmt.Errorf("create API client: %w", err)
	}
	c := out.CreateAPIClient
	fmt.Fprintf(stderr, "created API client %s (%s) in environment %s with %s\n", c.APIClient.ID, c.APIClient.Name,
		o.Environment, strings.Join(o.Roles, ", "))
	_, err := fmt.Fprintln(stdout, c.Token)
	return err
}
