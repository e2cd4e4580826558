-- Contexts, people and permissions: the Canvas objects an import needs around it.

CREATE TABLE accounts (
    id                       bigserial PRIMARY KEY,
    name                     text NOT NULL,
    parent_account_id        bigint REFERENCES accounts (id),
    root_account_id          bigint REFERENCES accounts (id),  -- NULL for a root account
    workflow_state           text NOT NULL DEFAULT 'active',
    latest_outcome_import_id bigint,
    created_at               timestamptz NOT NULL DEFAULT now(),
    CHECK ((parent_account_id IS NULL) = (root_account_id IS NULL))
);
CREATE INDEX accounts_parent_idx ON accounts (parent_account_id);

CREATE TABLE courses (
    id                       bigserial PRIMARY KEY,
    name                     text NOT NULL,
    course_code              text,
    account_id               bigint NOT NULL REFERENCES accounts (id),
    root_account_id          bigint NOT NULL REFERENCES accounts (id),
    workflow_state           text NOT NULL DEFAULT 'created',
    latest_outcome_import_id bigint,
    created_at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX courses_account_idx ON courses (account_id);

CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL,
    sortable_name text NOT NULL,
    short_name    text NOT NULL,
    login_id      text,
    site_admin    boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_login_id_key ON users (login_id) WHERE login_id IS NOT NULL;

-- Tokens are stored only as SHA-256 digests; the plain value is shown once at creation.
CREATE TABLE access_tokens (
    id             bigserial PRIMARY KEY,
    user_id        bigint NOT NULL REFERENCES users (id),
    token_digest   bytea NOT NULL UNIQUE,
    token_hint     text NOT NULL,
    purpose        text,
    expires_at     timestamptz,
    workflow_state text NOT NULL DEFAULT 'active',
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX access_tokens_user_idx ON access_tokens (user_id);

CREATE TABLE account_users (
    id             bigserial PRIMARY KEY,
    account_id     bigint NOT NULL REFERENCES accounts (id),
    user_id        bigint NOT NULL REFERENCES users (id),
    role           text NOT NULL DEFAULT 'AccountAdmin',
    workflow_state text NOT NULL DEFAULT 'active',
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, user_id)
);
CREATE INDEX account_users_user_idx ON account_users (user_id);

CREATE TABLE enrollments (
    id             bigserial PRIMARY KEY,
    course_id      bigint NOT NULL REFERENCES courses (id),
    user_id        bigint NOT NULL REFERENCES users (id),
    type           text NOT NULL,
    workflow_state text NOT NULL DEFAULT 'active',
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (course_id, user_id, type)
);
CREATE INDEX enrollments_user_idx ON enrollments (user_id);

-- Outcome imports. context_type is 'Account' or 'Course'.
CREATE TABLE outcome_imports (
    id                        bigserial PRIMARY KEY,
    context_type              text NOT NULL CHECK (context_type IN ('Account', 'Course')),
    context_id                bigint NOT NULL,
    root_account_id           bigint NOT NULL REFERENCES accounts (id),
    user_id                   bigint REFERENCES users (id),
    learning_outcome_group_id bigint,  -- target group (spec §8)
    import_type               text NOT NULL DEFAULT 'instructure_csv',
    workflow_state            text NOT NULL DEFAULT 'created',
    progress                  integer NOT NULL DEFAULT 0,
    object_key                text NOT NULL,
    file_name                 text NOT NULL,
    content_type              text NOT NULL,
    file_size                 bigint NOT NULL,
    file_sha256               text NOT NULL,
    file_line_count           bigint NOT NULL,
    error_count               integer NOT NULL DEFAULT 0,
    attempts                  integer NOT NULL DEFAULT 0,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    started_at                timestamptz,
    ended_at                  timestamptz
);
CREATE INDEX outcome_imports_context_idx ON outcome_imports (context_type, context_id);
CREATE INDEX outcome_imports_pending_idx ON outcome_imports (root_account_id, id)
    WHERE workflow_state IN ('created', 'importing');

CREATE TABLE outcome_import_errors (
    id                bigserial PRIMARY KEY,
    outcome_import_id bigint NOT NULL REFERENCES outcome_imports (id) ON DELETE CASCADE,
    row               integer NOT NULL,
    message           text NOT NULL
);
CREATE INDEX outcome_import_errors_import_idx ON outcome_import_errors (outcome_import_id, row, id);

-- Outcome groups: one tree per context; the root has parent_id NULL and no vendor_guid.
CREATE TABLE learning_outcome_groups (
    id              bigserial PRIMARY KEY,
    context_type    text NOT NULL CHECK (context_type IN ('Account', 'Course')),
    context_id      bigint NOT NULL,
    root_account_id bigint NOT NULL REFERENCES accounts (id),
    parent_id       bigint REFERENCES learning_outcome_groups (id),
    vendor_guid     text,
    title           text NOT NULL,
    description     text,
    workflow_state  text NOT NULL DEFAULT 'active',
    last_import_id  bigint,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX learning_outcome_groups_root_key ON learning_outcome_groups (context_type, context_id)
    WHERE parent_id IS NULL;
CREATE INDEX learning_outcome_groups_guid_idx ON learning_outcome_groups (context_type, context_id, vendor_guid);
CREATE INDEX learning_outcome_groups_parent_idx ON learning_outcome_groups (parent_id);
CREATE INDEX learning_outcome_groups_import_idx ON learning_outcome_groups (last_import_id);

-- Outcomes: owned by one context. The rubric is Canvas's `data` (ratings, mastery, points possible).
CREATE TABLE learning_outcomes (
    id                 bigserial PRIMARY KEY,
    context_type       text CHECK (context_type IN ('Account', 'Course')),  -- NULL: global
    context_id         bigint,
    root_account_id    bigint REFERENCES accounts (id),
    vendor_guid        text,
    short_description  text NOT NULL,
    description        text,
    display_name       text,
    calculation_method text NOT NULL DEFAULT 'decaying_average',
    calculation_int    integer,
    ratings            jsonb NOT NULL DEFAULT '[]',  -- [{"points": float, "description": str}], highest first
    mastery_points     double precision,
    points_possible    double precision,
    workflow_state     text NOT NULL DEFAULT 'active',
    last_import_id     bigint,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
-- Outcome vendor_guids are global (spec §5.1); one row per guid also stops two root accounts
-- importing the same new guid at once from creating it twice.
CREATE UNIQUE INDEX learning_outcomes_vendor_guid_key ON learning_outcomes (vendor_guid);
CREATE INDEX learning_outcomes_context_idx ON learning_outcomes (context_type, context_id);

-- Links place outcomes in groups (Canvas's content tags); at most one per (group, outcome).
CREATE TABLE learning_outcome_links (
    id                  bigserial PRIMARY KEY,
    learning_outcome_id bigint NOT NULL REFERENCES learning_outcomes (id),
    associated_group_id bigint NOT NULL REFERENCES learning_outcome_groups (id),
    context_type        text NOT NULL CHECK (context_type IN ('Account', 'Course')),
    context_id          bigint NOT NULL,
    workflow_state      text NOT NULL DEFAULT 'active',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (associated_group_id, learning_outcome_id)
);
CREATE INDEX learning_outcome_links_outcome_idx ON learning_outcome_links (learning_outcome_id);
CREATE INDEX learning_outcome_links_context_idx ON learning_outcome_links (context_type, context_id, id);

CREATE TABLE outcome_friendly_descriptions (
    learning_outcome_id bigint NOT NULL REFERENCES learning_outcomes (id),
    context_type        text NOT NULL,
    context_id          bigint NOT NULL,
    description         text NOT NULL,
    workflow_state      text NOT NULL DEFAULT 'active',
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (learning_outcome_id, context_type, context_id)
);

-- Like Canvas, a new installation has one root account.
INSERT INTO accounts (id, name) VALUES (1, 'Default Account');
SELECT setval('accounts_id_seq', 1);
