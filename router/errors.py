"""The router's small exception vocabulary: permanent versus configuration errors."""


class PoisonRecordError(ValueError):
    """A stream record that can never become an envelope (bad shape, unknown type).

    Permanent: retrying cannot help, so the record goes whole to the router DLQ.
    """


class ConfigurationError(RuntimeError):
    """The function's environment is missing or has an invalid setting (raised at cold start)."""
