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


class _RecordedZip(S3Code):
    """A zip whose unzip is recorded: LocalStack's own downloads it from S3 and unzips it."""

    unzipped: list[str] = []
    root: Path = Path()

    def get_unzipped_code_location(self) -> Path:
        return self.root / self.id

    def prepare_for_execution(self) -> None:
        _RecordedZip.unzipped.append(self.id)
        (self.root / self.id).mkdir(parents=True)
        (self.root / self.id / "handler.py").write_text("def handler(event, context): return 1\n")


def test_a_second_function_with_the_same_zip_is_not_unzipped_again(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from localstack.aws.api.lambda_ import PackageType

    from harness.localstack.executor import executor

    monkeypatch.setenv("HARNESS_ENVIRONMENTS_DIR", str(tmp_path / "environments"))
    monkeypatch.setattr(executor.interpreters, "resolve", lambda runtime: None)
    _RecordedZip.unzipped, _RecordedZip.root = [], tmp_path / "localstack"

    def version(code_id: str, sha: str) -> SimpleNamespace:
        code = _RecordedZip(id=code_id, account_id="000000000000", s3_bucket="b", s3_key=code_id,
                            s3_object_version=None, code_sha256=sha, code_size=1)
        return SimpleNamespace(config=SimpleNamespace(package_type=PackageType.Zip, runtime="python3.13",
                                                      code=code, layers=[]))

    for code_id, sha in (("worker", "same"), ("error-handler", "same"), ("other", "different")):
        executor.ProcessRuntimeExecutor.prepare_version(version(code_id, sha))  # type: ignore[arg-type]
    assert _RecordedZip.unzipped == ["worker", "other"]
    shared = shared_code_dir(version("any", "same").config.code)
    assert shared is not None and (shared / "handler.py").is_file()
