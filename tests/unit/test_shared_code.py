"""Which function code the executor runs from a folder shared by content (`harness.localstack.executor.executor`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from localstack.services.lambda_.invocation.lambda_models import HotReloadingCode, S3Code

from harness.localstack.executor.executor import shared_code_dir


def _zip(sha: str) -> S3Code:
    return S3Code(id="id", account_id="000000000000", s3_bucket="b", s3_key="k", s3_object_version=None,
                  code_sha256=sha, code_size=1)


def test_the_same_zip_shares_a_folder_and_another_does_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_ENVIRONMENTS_DIR", str(tmp_path))
    first, again, other = shared_code_dir(_zip("abc+/=")), shared_code_dir(_zip("abc+/=")), shared_code_dir(_zip("xyz"))
    assert first == again and first != other
    assert first is not None and first.parent.parent == tmp_path and "/" not in first.name


def test_hot_reloaded_code_is_never_shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its folder changes under one fixed hash: sharing it would run stale code."""
    monkeypatch.setenv("HARNESS_ENVIRONMENTS_DIR", str(tmp_path))
    assert shared_code_dir(HotReloadingCode(host_path=str(tmp_path))) is None
