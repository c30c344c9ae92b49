"""HTTPS_PROXY mode with curl: LLM hosts are decrypted and recorded, every other host tunnelled."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import trustme

from tests.fakes.upstream import FakeUpstreamThread

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")

BODY = json.dumps(
    {"model": "claude-x", "max_tokens": 5, "messages": [{"role": "user", "content": "via proxy"}]}
)


@pytest.fixture
def tls_upstream(tmp_path):
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    ca_file, cert_file, key_file = (tmp_path / n for n in ("ca.pem", "cert.pem", "key.pem"))
    ca.cert_pem.write_to_path(str(ca_file))
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    with FakeUpstreamThread(tls=(str(cert_file), str(key_file))) as fake:
        fake.ca_file = ca_file
        yield fake


def curl(proxy, url: str, cacert) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            "curl",
            "-sS",
            "--max-time",
            "20",
            "--proxy",
            proxy.proxy_url,
            "--cacert",
            str(cacert),
            "-H",
            "content-type: application/json",
            "-H",
            "x-api-key: sk-curl-secret-000000-WXYZ",
            "-d",
            BODY,
            url,
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def test_llm_host_is_intercepted_and_recorded(make_proxy, tls_upstream):
    proxy = make_proxy(
        "[intercept]\nhosts = []\n",
        args=["--set", f"ssl_verify_upstream_trusted_ca={tls_upstream.ca_file}"],
        upstream_url="http://localhost:1",  # makes `localhost` a known LLM host
    )
    url = f"https://localhost:{tls_upstream.port}/v1/messages"
    done = curl(proxy, url, proxy.ca_cert)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["content"][0]["text"].startswith("echo: via proxy")

    [row] = proxy.wait_rows()
    assert row["listener"] == "regular" and row["scheme"] == "https"
    assert row["host"] == "localhost" and row["dialect"] == "anthropic"
    assert row["client_app"] == "curl" and row["status"] == 200
    assert "sk-curl-secret" not in row["request_headers"]

    # The upstream's own certificate is not what curl saw: the proxy's CA signed it.
    refused = curl(proxy, url, tls_upstream.ca_file)
    assert refused.returncode != 0


def test_other_hosts_are_tunnelled_untouched(make_proxy, tls_upstream):
    proxy = make_proxy(
        "[intercept]\nhosts = []\n",
        args=["--set", f"ssl_verify_upstream_trusted_ca={tls_upstream.ca_file}"],
        upstream_url="http://localhost:1",
    )
    done = curl(proxy, f"https://127.0.0.1:{tls_upstream.port}/v1/messages", tls_upstream.ca_file)
    # curl verified the upstream's own certificate end to end: nothing was decrypted...
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["type"] == "message"
    # ...and nothing was recorded: an intercepted request made after it is the only row.
    assert (
        curl(proxy, f"https://localhost:{tls_upstream.port}/v1/messages", proxy.ca_cert).returncode
        == 0
    )
    [row] = proxy.wait_rows()
    assert row["host"] == "localhost"
    assert proxy.query("select count(*) n from requests")[0]["n"] == 1
