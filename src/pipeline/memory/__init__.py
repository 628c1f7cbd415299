"""What one isolate holds in memory: the image bytes in flight for all its requests."""
