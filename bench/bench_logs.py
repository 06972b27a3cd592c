"""Benchmarks print their own progress, not the local AWS server's request log.

moto's server runs on werkzeug, which logs one line per request (thousands in a
benchmark); moto and botocore log at INFO/DEBUG when a root handler exists.
"""

from __future__ import annotations

import logging

NOISY = ("werkzeug", "moto", "botocore", "boto3", "urllib3", "s3transfer")


def quiet_moto_logs() -> None:
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
