"""The wire contract: lifecycle events as Avro messages with CloudEvents headers."""
