-- Facts about the tenant file itself, made with it. epoch names this history of the
-- file (a restore writes a new one, so clients never splice two histories);
-- page_token_key signs the page tokens the server issues for this tenant, so a token is
-- checked by any process serving the tenant and is worthless in another tenant.
CREATE TABLE tenant_meta (
    name   TEXT PRIMARY KEY,
    value  BLOB NOT NULL
) WITHOUT ROWID;
INSERT INTO tenant_meta(name, value) VALUES
    ('epoch', lower(hex(randomblob(16)))),
    ('page_token_key', randomblob(32));
