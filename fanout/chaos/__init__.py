"""The no-loss chaos run: a seeded workload through the local hub under injected faults.

``run_chaos`` starts the local hub (moto server, template.yaml, the real router
and the three consumers), points the webhook consumer at a local HTTPS receiver
with two endpoints, injects the faults of ``fanout.local.faults``, writes a
workload of inserts, updates, deletes, TTL expiries, oversize items (claim
check), items the webhook endpoints refuse, and poison records, waits until the
hub is quiet, and then checks, independently of the emulator's own bookkeeping:

- router: every stream record was published (distinct envelope ids SNS
  accepted) or is in the router DLQ; records in = published + router DLQ;
- every consumer: each event its filter policy selects was processed, or sits in
  its DLQ with a reason, and only the refusals we planned are in a DLQ;
- audit log: exactly one object per event, holding that event;
- projection: the read model equals the source table now (tombstones for
  deleted and expired items);
- webhook: each event accepted exactly once per endpoint (the per-endpoint
  delivery ledger), every request correctly signed.

The ledger it prints is the same for the e2e test and ``bench/chaos.py``.

One module per concern:

- ``certificates``: a self-signed certificate for the receiver, trusted for one run;
- ``receiver``: the HTTPS receiver standing in for the partners' endpoints;
- ``workload``: the seeded plan of operations and its writer;
- ``runner``: ``run_chaos`` (hub, faults, paced writes, drain) and its ``ChaosResult``;
- ``checks``: the independent checks;
- ``report``: the printed ledger.
"""
