"""Operations on a running hub: status, DLQ inspection and redrive, replay, backfill.

Everything here works against any endpoint (the local hub's moto server, LocalStack,
an account) and finds the hub's resources from its CloudFormation stack
(``fanout.ops.resolve``). Tooling only: never imported by deployed code.
"""
