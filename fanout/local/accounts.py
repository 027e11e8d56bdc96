"""Acting as any account on the local hub's moto server, through STS ``AssumeRole``.

moto serves a request from the account its access key belongs to, and a key that
``AssumeRole`` issued belongs to the assumed role's account ("The ARN can point to
another account, providing an opportunity to switch accounts", moto's
``STSBackend.assume_role``; its multi-account guide:
https://docs.getmoto.org/en/latest/docs/multi_account.html). That is also how an
account is entered on AWS: a deployer assumes a role in it, and Lambda assumes a
function's execution role to run it
(https://docs.aws.amazon.com/lambda/latest/dg/lambda-intro-execution-role.html).

So a second team's stack is deployed with credentials from assuming
``arn:aws:iam::<account>:role/fanout-local-deployer`` (moto does not require the role
to exist), and each of its functions runs with credentials from assuming its own
execution role: its calls are served in its account, and checked against its
role's policies (``fanout.local.access``).
"""

from __future__ import annotations

import threading
from typing import Any, Final

import boto3

from fanout.connection import Connection

DEPLOYER_ROLE: Final = "fanout-local-deployer"
"""The role assumed to deploy into another account of the local hub."""


def assume(clients: Connection, role_arn: str, session_name: str) -> dict[str, str]:
    """Temporary credentials of ``role_arn`` (``AssumeRole`` through ``clients``'s endpoint)."""
    credentials = clients.client("sts").assume_role(
        RoleArn=role_arn, RoleSessionName=session_name[:64]
    )["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": str(credentials["AccessKeyId"]),
        "AWS_SECRET_ACCESS_KEY": str(credentials["SecretAccessKey"]),
        "AWS_SESSION_TOKEN": str(credentials["SessionToken"]),
    }


def session_of(credentials: dict[str, str], region: str) -> Any:
    """A boto3 session signing with ``credentials`` (as ``assume`` returns them)."""
    return boto3.session.Session(
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials["AWS_SESSION_TOKEN"],
        region_name=region,
    )


class AccountConnections:
    """A connection per account of one endpoint: the home connection's, or an assumed deployer's.

    Callable as ``fanout.crossaccount.AccountConnections``.
    """

    def __init__(self, home: Connection) -> None:
        self.home = home
        self._account: str | None = None
        self._connections: dict[str, Connection] = {}
        self._lock = threading.Lock()

    @property
    def home_account(self) -> str:
        """The account the home connection acts in."""
        if self._account is None:
            self._account = str(self.home.client("sts").get_caller_identity()["Account"])
        return self._account

    def __call__(self, account: str) -> Connection:
        """The connection acting in ``account``."""
        if account == self.home_account:
            return self.home
        with self._lock:
            if account not in self._connections:
                credentials = assume(
                    self.home, f"arn:aws:iam::{account}:role/{DEPLOYER_ROLE}", "fanout-local"
                )
                self._connections[account] = Connection(
                    endpoint_url=self.home.endpoint_url,
                    region=self.home.region,
                    session=session_of(credentials, self.home.region),
                )
            return self._connections[account]
