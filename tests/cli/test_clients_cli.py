"""`certbound clients`: what the operator reads is what is registered."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def certbound(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTBOUND_")}
    env["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-m", "certbound", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_list_prints_emoji_codes_in_a_registered_dn_as_written(tmp_path: Path) -> None:
    """Rich's console would turn ':smile:' into an emoji: a listing must show the registered
    subject DN and name byte for byte, not a rendering of them."""
    added = certbound(
        "clients", "add", "--data-dir", str(tmp_path), "--client-id", "emo",
        "--auth-method", "tls_client_auth", "--subject-dn", "CN=:smile:,O=x",
        "--grant-type", "client_credentials", "--name", ":rocket: app",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    listed = certbound("clients", "list", "--data-dir", str(tmp_path))
    assert listed.returncode == 0, listed.stderr
    assert "CN=:smile:,O=x" in listed.stdout
    assert ":rocket: app" in listed.stdout
    assert "\N{SMILING FACE WITH OPEN MOUTH AND SMILING EYES}" not in listed.stdout
