"""S3's naming rules for general purpose buckets, as CreateBucket applies them.

https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
moto checks only the length; S3 answers any other broken name with ``InvalidBucketName``
(the code is S3's, the texts are the documented rules in our words).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from fanout.aws_rules.exceptions import AwsRuleError

BUCKET_NAMING_DOC: Final = (
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html"
)
MAX_BUCKET_NAME: Final = 63
MIN_BUCKET_NAME: Final = 3
_CHARACTERS: Final = re.compile(r"[a-z0-9.-]+")
_RESERVED_PREFIXES: Final = ("xn--", "sthree-", "amzn-s3-demo-")
# "-an" ends only names in an account regional namespace; a template's BucketName is in
# the shared global one (https://docs.aws.amazon.com/AmazonS3/latest/userguide/gpbucketnamespaces.html).
_RESERVED_SUFFIXES: Final = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3", "-an")
_IP_FORMAT: Final = re.compile(r"\d{1,3}(\.\d{1,3}){3}")


@dataclass(frozen=True)
class _Rule:
    broken: Callable[[str], bool]
    text: str
    # A different stack name can mend a name built from it: its length and characters.
    stack_name_mends: bool = False


_RULES: Final = (
    _Rule(
        lambda n: not _CHARACTERS.fullmatch(n),
        "may hold only lowercase letters, digits, periods and hyphens",
        stack_name_mends=True,
    ),
    _Rule(
        lambda n: not (n[0].isalnum() and n[-1].isalnum()),
        "must begin and end with a letter or digit",
    ),
    _Rule(lambda n: ".." in n, "must not hold two adjacent periods"),
    _Rule(lambda n: bool(_IP_FORMAT.fullmatch(n)), "must not be formatted as an IP address"),
    _Rule(
        lambda n: n.startswith(_RESERVED_PREFIXES),
        f"must not start with {', '.join(_RESERVED_PREFIXES)}",
    ),
    _Rule(
        lambda n: n.endswith(_RESERVED_SUFFIXES),
        f"must not end with {', '.join(_RESERVED_SUFFIXES)}",
    ),
)


def _problem(name: str) -> tuple[str, bool] | None:
    """The first naming rule ``name`` breaks, and whether a stack name can mend it; or None."""
    if not MIN_BUCKET_NAME <= len(name) <= MAX_BUCKET_NAME:
        length = (
            f"is {len(name)} characters; a bucket name has {MIN_BUCKET_NAME} to {MAX_BUCKET_NAME}"
        )
        return length, True
    return next(((r.text, r.stack_name_mends) for r in _RULES if r.broken(name)), None)


def check_bucket_name(name: str, resource: str, *, stack_name: str | None = None) -> None:
    """``name`` is a bucket name S3 accepts.

    ``stack_name``, when the name was built from it, adds how to fit a stack name into
    the name, for the rules a different stack name can mend (length, characters).
    """
    problem = _problem(name)
    if problem is None:
        return
    text, stack_name_mends = problem
    message = f"The bucket name {name!r} {text}"
    if stack_name and stack_name in name and stack_name_mends:
        room = MAX_BUCKET_NAME - (len(name) - len(stack_name))
        if room > 0:
            message += (
                f"; it is built from the stack name {stack_name!r}: use a stack name of at"
                f" most {room} lowercase letters, digits and hyphens"
            )
    raise AwsRuleError("InvalidBucketName", message, resource, BUCKET_NAMING_DOC)
