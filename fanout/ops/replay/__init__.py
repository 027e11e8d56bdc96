"""Route again what the router could not: discarded stream batches and router dead letters.

Both replays invoke the deployed router function (``lambda:InvokeFunction``,
``RequestResponse``) with a DynamoDB-stream-shaped event built from the records, so
the deployed code builds every envelope and only the router's role publishes to the
topic (the topic policy denies everyone else). A replayed record becomes exactly the
envelope the live router would have published (same deterministic id, attributes,
claim check); consumers de-duplicate by envelope id, so replaying something that did
get through after all has no second effect. The router's ``batchItemFailures`` name
the earliest record it could not publish; that record and every later one of the
chunk count as not routed.

Records are sent in chunks of at most the mapping's batch size and under Lambda's
6 MB synchronous request payload quota:
https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
https://docs.aws.amazon.com/lambda/latest/dg/API_Invoke.html

One module per concern: ``router`` (invoking the deployed router, chunking, what it
did not publish), ``stream_failures`` (``fanout replay stream-failures``) and
``poison`` (``fanout replay poison``).
"""
