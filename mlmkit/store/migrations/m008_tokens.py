"""Schema for issue 14: API tokens for the HTTP server (hash only, never the token).

One row per token: ``scope`` is ``ingest``, ``read`` or ``admin``; ``token_hash`` is the
hex SHA-256 of the token string (the token itself is shown once by ``mlmkit tokens create``
and never stored); ``revoked_at`` is set by ``mlmkit tokens revoke`` (rows are kept for the
audit trail); ``last_used_at`` is written by the server at most once a minute per token.
"""

VERSION = 8

SQL = """
CREATE SEQUENCE api_token_seq START 1;
CREATE TABLE api_tokens (
    token_id BIGINT PRIMARY KEY DEFAULT nextval('api_token_seq'),
    name VARCHAR,
    scope VARCHAR NOT NULL CHECK (scope IN ('ingest', 'read', 'admin')),
    token_hash VARCHAR NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ
);
"""
