"""The Kafka bus: CloudEvents envelope, event models, topics, outbox relay and consumer loop."""
