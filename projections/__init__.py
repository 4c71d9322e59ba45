"""Read models and the Kafka consumers that build them."""
