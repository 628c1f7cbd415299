"""Queued work, above generation/: batches and async jobs (submission.py, consumer.py,
completion.py, rekick.py) and the economy lane (economy/). Each item runs through the same
admission and generation as a direct request; nothing here is imported by generation/."""
