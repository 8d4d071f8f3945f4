from __future__ import annotations

import pytest

from harness.services.endpoint import Endpoint, UnsafeEndpoint, check_endpoint


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:4566", "http://localhost:4566", "http://[::1]:4566", "http://127.0.0.2:1"]
)
def test_loopback_endpoints_are_accepted(url, monkeypatch):
    monkeypatch.delenv("HARNESS_ALLOW_REMOTE_ENDPOINT", raising=False)
    assert check_endpoint(url) == url


@pytest.mark.parametrize(
    "url", ["https://lambda.us-east-1.amazonaws.com", "http://10.0.0.5:4566", "http://192.168.1.2:4566"]
)
def test_remote_endpoints_are_refused_with_the_reason(url, monkeypatch):
    monkeypatch.delenv("HARNESS_ALLOW_REMOTE_ENDPOINT", raising=False)
    with pytest.raises(UnsafeEndpoint) as refused:
        check_endpoint(url)
    assert "not a loopback address" in str(refused.value) and "--allow-remote-endpoint" in str(refused.value)


def test_remote_endpoint_needs_explicit_opt_in(monkeypatch):
    monkeypatch.delenv("HARNESS_ALLOW_REMOTE_ENDPOINT", raising=False)
    assert check_endpoint("http://10.0.0.5:4566", allow_remote=True) == "http://10.0.0.5:4566"
    monkeypatch.setenv("HARNESS_ALLOW_REMOTE_ENDPOINT", "1")
    assert check_endpoint("http://10.0.0.5:4566") == "http://10.0.0.5:4566"


def test_not_a_url_is_refused():
    with pytest.raises(UnsafeEndpoint):
        check_endpoint("127.0.0.1:4566")


def test_clients_use_fake_credentials_never_the_users_profile(monkeypatch, tmp_path):
    credentials = tmp_path / "credentials"
    credentials.write_text("[default]\naws_access_key_id = AKIAREALKEY\naws_secret_access_key = real\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_PROFILE", "does-not-exist")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALFROMENV")
    client = Endpoint("http://127.0.0.1:4566").client("sts")
    creds = client._request_signer._credentials
    assert creds.access_key == "test" and creds.secret_key == "test"
    assert client.meta.endpoint_url == "http://127.0.0.1:4566"
