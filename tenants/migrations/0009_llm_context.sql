-- What an LLM agent should know before it queries this tenant: schema notes, business
-- rules, query patterns and examples (GET /api/v1/llm/context). The rows come from
-- tenants/llm_context_seed.md: tenants.llm_context.with_seed adds them to this migration,
-- so a new tenant file (or one upgraded to this version) gets them in the same transaction
-- that creates the table.
CREATE TABLE llm_context (
    id        INTEGER PRIMARY KEY,
    category  TEXT NOT NULL,
    type      TEXT NOT NULL,
    priority  INTEGER NOT NULL,
    title     TEXT NOT NULL,
    body      TEXT NOT NULL
);
