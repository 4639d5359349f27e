"""Real servers for the tests: an S3-API server (moto, its own process) and PostgreSQL.

Under ``CI=true`` a server that cannot be reached fails the test; elsewhere it skips it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def unavailable(what: str) -> None:
    """Fail under CI (a missing server is a broken CI), skip on a developer's machine."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} is not available, and CI=true requires it", pytrace=False)
    pytest.skip(f"{what} is not available")


def wait_for_http(url: str, seconds: float, process: subprocess.Popen | None = None) -> bool:
    """Poll ``url`` until it answers; False after ``seconds`` or once ``process`` has exited."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return True
        except OSError:
            if time.monotonic() > deadline or (process and process.poll() is not None):
                return False
            time.sleep(0.3)


def graphql(port: int, query: str, variables: dict) -> dict:
    """The ``data`` of a GraphQL request to the Dagster webserver on loopback ``port``."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)["data"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def s3_server(auth: bool = False) -> Iterator[dict[str, str]]:
    """Start moto's S3-API server on a loopback port; yield the AWS environment to reach it.

    ``auth``: check credentials from the first request (moto's INITIAL_NO_AUTH_ACTION_COUNT=0),
    so a key unknown to its IAM is refused with InvalidAccessKeyId."""
    port = free_port()
    binary = Path(sys.executable).parent / "moto_server"
    process = subprocess.Popen(
        [str(binary), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"} if auth else None,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        if not wait_for_http(f"{endpoint}/moto-api/", 30, process):
            unavailable("the moto S3 server")
        yield {**S3_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}
    finally:
        process.terminate()
        process.wait(timeout=10)


def create_bucket(env: dict[str, str], bucket: str) -> None:
    import boto3

    boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    ).create_bucket(Bucket=bucket)


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for the test session; dropped afterwards."""
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"dp_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'create database "{name}"'))
    except sa.exc.OperationalError:
        admin.dispose()
        unavailable(f"PostgreSQL at {POSTGRES_ADMIN_URL}")
    url = sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()
