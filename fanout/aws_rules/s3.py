"""S3's naming rules for general purpose buckets, as CreateBucket applies them.

https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
moto checks only the length; S3 answers any other broken name with ``InvalidBucketName``
(the code is S3's, the texts are the documented rules in our words).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Final

from fanout.aws_rules.exceptions import AwsRuleError

BUCKET_NAMING_DOC: Final = (
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html"
)
MAX_BUCKET_NAME: Final = 63
MIN_BUCKET_NAME: Final = 3
_CHARACTERS: Final = re.compile(r"[a-z0-9.-]+")
_RESERVED_PREFIXES: Final = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES: Final = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def _is_ipv4(name: str) -> bool:
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return False
    return True


_RULES: Final[tuple[tuple[Callable[[str], bool], str], ...]] = (
    (
        lambda n: not _CHARACTERS.fullmatch(n),
        "may hold only lowercase letters, digits, periods and hyphens",
    ),
    (
        lambda n: not (n[0].isalnum() and n[-1].isalnum()),
        "must begin and end with a letter or digit",
    ),
    (lambda n: ".." in n, "must not hold two adjacent periods"),
    (_is_ipv4, "must not be formatted as an IP address"),
    (
        lambda n: n.startswith(_RESERVED_PREFIXES),
        f"must not start with {', '.join(_RESERVED_PREFIXES)}",
    ),
    (
        lambda n: n.endswith(_RESERVED_SUFFIXES),
        f"must not end with {', '.join(_RESERVED_SUFFIXES)}",
    ),
)


def bucket_name_problem(name: str) -> str | None:
    """The first naming rule ``name`` breaks, or None."""
    if not MIN_BUCKET_NAME <= len(name) <= MAX_BUCKET_NAME:
        return (
            f"is {len(name)} characters; a bucket name has {MIN_BUCKET_NAME} to {MAX_BUCKET_NAME}"
        )
    return next((text for broken, text in _RULES if broken(name)), None)


def check_bucket_name(name: str, resource: str, *, stack_name: str | None = None) -> None:
    """``name`` is a bucket name S3 accepts; a name built from ``stack_name`` says how to fit it."""
    problem = bucket_name_problem(name)
    if problem is None:
        return
    message = f"The bucket name {name!r} {problem}"
    if stack_name and stack_name in name:
        room = MAX_BUCKET_NAME - (len(name) - len(stack_name))
        message += (
            f"; it is built from the stack name {stack_name!r}: use a stack name of at most"
            f" {room} lowercase letters, digits and hyphens"
        )
    raise AwsRuleError("InvalidBucketName", message, resource, BUCKET_NAMING_DOC)
