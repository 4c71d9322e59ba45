"""Entry points and the service layer: intake API, relay, consumer runners, CLI."""
