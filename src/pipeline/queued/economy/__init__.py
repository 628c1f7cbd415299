"""The economy lane: batch items sent to the providers' batch APIs at the batch price.

routing.py decides each item's lane (and what an estimate says); storage/economy_rows.py holds the
D1 rows (provider batches, economy items); lifecycle.py runs the queue messages
(submit once, poll on a schedule, collect); record.py turns each result into an
ordinary stored generation and settles its money; views.py shows lanes and savings."""
