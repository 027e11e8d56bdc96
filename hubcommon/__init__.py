"""Deployed code the router and every consumer share that is not the envelope contract.

``hubcommon.limits`` (AWS service limits, one home for each number),
``hubcommon.logs`` (the JSON log line), ``hubcommon.lambda_shapes`` (the partial batch
response and the context object), ``hubcommon.settings`` (environment variables read
at cold start) and ``hubcommon.errors`` (``ConfigurationError``). The envelope itself
lives in ``schemas``.

Standard library and structlog only: the router imports all of it on its cold start
and never loads pydantic (docs/benchmarks.md, section 3).
"""
