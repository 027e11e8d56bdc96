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

Peeking receives with a short visibility timeout and then sets each message's
visibility back to 0. The trade-off (docs/operations.md): a receive with
``VisibilityTimeout=0`` would leave messages visible, so one pass could return the
same message many times and never walk the whole queue; hiding them while the pass
runs walks each message once. The price: every peek adds one to each message's
``ApproximateReceiveCount`` and hides it from other readers for a few seconds. On a
DLQ (no redrive policy of its own) the count has no effect; on a source queue it
counts towards ``maxReceiveCount``, so peeking a queue with a redrive policy needs
``--force``.

One module per concern: ``queues`` (which DLQ a name means), ``decode`` (messages
for people, and filters), ``peek``, ``pack`` (SendMessageBatch entries),
``redrive`` (the receive-send-delete loop) and ``move_task`` (SQS's own move task).
"""
