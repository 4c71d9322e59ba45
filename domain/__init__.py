"""The domain model: invoices and their lifecycle. Knows nothing of Kafka, HTTP or SQL."""
