"""Intake: validate one submitted invoice file (UBL 2.1, CII D16B, Factur-X PDF).

Pure functions, no database, Kafka or HTTP. `pipeline.validate` is the entry point; it runs
the cheapest checks first (size and type, XML safety, syntax detection, XSD, then the official
EN 16931 Schematron) and either returns a `Validated` or raises `Rejection` with coded findings.
"""
