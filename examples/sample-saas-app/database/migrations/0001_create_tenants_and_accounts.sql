-- 0001: the first schema of sample-saas-app (PostgreSQL).
-- Migrations are plain SQL, applied in file-name order, each once. CI applies them to a
-- throwaway PostgreSQL (ci.yml, job `migrations`); run them with the tool your team uses.

BEGIN;

CREATE TABLE tenants (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug        text        NOT NULL UNIQUE CHECK (slug ~ '^[a-z][a-z0-9-]{1,62}$'),
    name        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   bigint      NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email       text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, email)  -- also the index for lookups by tenant
);

COMMIT;
