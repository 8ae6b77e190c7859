"""The HTTP service (FastAPI): `main` assembles, `routes/*` per resource, `deps` the injected parts,
`auth` roles and keys, `errors` the one table from domain errors to HTTP, `settings` NII_* settings,
`worker` the bounded analysis pool. Never imports the training code."""
