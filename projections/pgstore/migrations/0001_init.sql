-- The directory read model (projections.Directory) by entity. Every ID column sorts bytewise
-- (COLLATE "C"), as the Directory's Go strings do. Documents are json (not jsonb): kept exactly
-- as written, so custom attribute values read back byte for byte.

CREATE TABLE checkpoint (
	projection text PRIMARY KEY,
	commit_position bigint NOT NULL,
	prepare_position bigint NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now(),
	version int NOT NULL
);

CREATE TABLE lease (
	projection text PRIMARY KEY,
	host text NOT NULL,
	pid int NOT NULL,
	backend_pid int NOT NULL,
	since timestamptz NOT NULL
);

CREATE TABLE environments (
	id text COLLATE "C" PRIMARY KEY,
	doc json NOT NULL,          -- projections.Environment
	schema_doc json NOT NULL,   -- []domain.AttributeDef
	config_doc json NOT NULL,   -- domain.Configuration
	user_count int NOT NULL     -- every user of the environment
);

CREATE TABLE populations (
	env text COLLATE "C" NOT NULL,
	id text COLLATE "C" NOT NULL,
	user_count int NOT NULL,
	doc json NOT NULL,          -- projections.Population (UserCount from user_count)
	PRIMARY KEY (env, id)
);

CREATE TABLE users (
	env text COLLATE "C" NOT NULL,
	id text COLLATE "C" NOT NULL,
	population_id text COLLATE "C" NOT NULL,
	username_l text COLLATE "C" NOT NULL,   -- strings.ToLower, as the Directory's indexes
	email_l text COLLATE "C" NOT NULL,
	external_id_l text COLLATE "C" NOT NULL,
	search text COLLATE "C" NOT NULL,  -- projections.UserSearchText: narrows filtered queries
	doc json NOT NULL,          -- *projections.User
	PRIMARY KEY (env, id)
);
CREATE INDEX users_population ON users (env, population_id, id);
CREATE INDEX users_username ON users (env, username_l);
CREATE INDEX users_email ON users (env, email_l);
CREATE INDEX users_external_id ON users (env, external_id_l);

CREATE TABLE groups (
	env text COLLATE "C" NOT NULL,
	id text COLLATE "C" NOT NULL,
	doc json NOT NULL,          -- projections.Group
	PRIMARY KEY (env, id)
);

-- Users of a group: added directly or matched by its dynamic filter.
CREATE TABLE group_users (
	env text COLLATE "C" NOT NULL,
	group_id text COLLATE "C" NOT NULL,
	user_id text COLLATE "C" NOT NULL,
	PRIMARY KEY (env, group_id, user_id)
);
CREATE INDEX group_users_user ON group_users (env, user_id);

CREATE TABLE group_children (
	env text COLLATE "C" NOT NULL,
	parent_id text COLLATE "C" NOT NULL,
	child_id text COLLATE "C" NOT NULL,
	PRIMARY KEY (env, parent_id, child_id)
);
CREATE INDEX group_children_child ON group_children (env, child_id);

CREATE TABLE api_clients (
	id text COLLATE "C" PRIMARY KEY,
	env text COLLATE "C" NOT NULL,   -- '' for organization-wide clients
	doc json NOT NULL                -- projections.APIClient
);
CREATE INDEX api_clients_env ON api_clients (env, id);

CREATE TABLE api_tokens (
	sha256 text COLLATE "C" PRIMARY KEY,   -- lower-case hex
	client_id text COLLATE "C" NOT NULL,
	token_id text NOT NULL
);
CREATE INDEX api_tokens_client ON api_tokens (client_id);
