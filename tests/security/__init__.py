"""Security suite (issue #7): cross-tenant probes of every route, CSRF, sessions, network, secrets."""
