"""Read dead-letter queues without consuming them, and move their messages back.

Two kinds of dead letters exist (see ``consumers/runtime/deadletter.py`` and
``router/deadletter.py``):

- a consumer DLQ message is the original SQS body (the envelope) with the original
  message attributes, plus ``fanout-error-type``, ``fanout-error`` and
  ``fanout-origin`` when the runtime dead-lettered it; a message the queue's redrive
  policy moved after ``maxReceiveCount`` receives carries no error attributes;
- a router DLQ message is a JSON "dead letter": ``reason``, ``error``, ``failed_at``,
  ``sequence_number`` and the stream ``record`` (or ``record_ref`` in S3 when large).
  Router dead letters are replayed with ``fanout replay poison``, not redriven.

One module per concern: ``queues`` (which DLQ a name means), ``decode`` (messages
for people, and filters), ``peek``, ``pack`` (SendMessageBatch entries),
``redrive`` (the receive-send-delete loop) and ``move_task`` (SQS's own move task).
"""
