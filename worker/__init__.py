"""The support-desk router: ingest, parse, screen, classify, decide, act (see README.md, "Architecture")."""
