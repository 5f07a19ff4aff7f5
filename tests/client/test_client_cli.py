"""certbound.cli.token's output and input helpers (the commands end to end are in
tests/e2e/test_client_e2e.py, against the real AS)."""

from __future__ import annotations

import io
from pathlib import Path
from types import MappingProxyType

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

import certbound.cli.token as token_cli
from certbound.cli import CliError
from certbound.client import TokenResponse


def response(claims: dict[str, object] | None) -> TokenResponse:
    if claims is None:
        value = "opaque"
    else:
        value = jwt.encode({"alg": "ES256"}, claims, ECKey.generate_key("P-256"))
    return TokenResponse(value, "Bearer", 60, None, MappingProxyType({}))


@pytest.mark.parametrize(
    ("claims", "shown", "matches"),
    [
        ({"cnf": {"x5t#S256": "tp"}}, "cnf x5t#S256: tp (matches this certificate)", True),
        ({"cnf": {"x5t#S256": "zz"}}, "cnf x5t#S256: zz (does NOT match this certificate, tp)", False),
        ({"cnf": {"x5t#S256": "[b]x[/b]"}}, "cnf x5t#S256: [b]x[/b] (does NOT match", False),
        ({"sub": "svc"}, "cnf x5t#S256: absent, the token is not certificate-bound", None),
        (None, "the access token is not a JWT: nothing to decode", None),
    ],
    ids=["bound-here", "bound-elsewhere", "markup-shown-as-text", "unbound", "opaque"],
)  # fmt: skip
def test_decoded_token_says_whether_it_is_bound_to_this_certificate(
    capsys: pytest.CaptureFixture[str], claims: dict[str, object] | None, shown: str, matches: bool | None
) -> None:  # fmt: skip
    token = response(claims)
    token_cli._print_decoded(token, "tp")
    assert shown in capsys.readouterr().out
    assert token_cli._binding(token, "tp") == {"cnf_matches_certificate": matches}


def test_headers_are_parsed_like_curl() -> None:
    assert token_cli._headers(["X-A: 1", "accept:  text/plain ", "X-Empty:"]) == {
        "x-a": "1", "accept": "text/plain", "x-empty": ""
    }  # fmt: skip
    with pytest.raises(CliError) as info:
        token_cli._headers([": no name"])
    assert info.value.exit_code == 2


def test_data_items_join_with_ampersand_and_read_files_and_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    part = tmp_path / "part"
    part.write_bytes(b"b=2")
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"c=3")))
    assert token_cli._body(["a=1", f"@{part}", "@-"]) == b"a=1&b=2&c=3"
    assert token_cli._body([]) is None


def test_body_is_written_as_received_bytes(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    token_cli._write_body(b"\x00\xffbinary")
    assert capsysbinary.readouterr().out == b"\x00\xffbinary"
