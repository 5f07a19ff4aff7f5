"""`certbound clients`: what the operator reads is what is registered."""

from __future__ import annotations

from pathlib import Path

from clirun import certbound


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
