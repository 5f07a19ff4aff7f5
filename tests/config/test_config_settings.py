"""The configuration loader: defaults < TOML < environment < flags, and errors that name the key,
the reason and the source of the bad value."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from certbound.config.settings import ConfigError, Secret, Settings, load_settings

NO_ENV: dict[str, str] = {}


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "certbound.toml"
    path.write_text(text, "utf-8")
    return path


def refused(
    config: Path | None = None,
    flags: dict[str, object] | None = None,
    env: dict[str, str] | None = None,
) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(config, flags, NO_ENV if env is None else env)
    return str(caught.value)


def test_defaults_without_any_source() -> None:
    settings = load_settings(None, None, NO_ENV)
    assert settings == Settings()
    assert (settings.server.port, settings.server.mtls_port, settings.server.workers) == (
        8443,
        8444,
        1,
    )
    assert settings.issuer == "https://localhost:8443"
    assert settings.mtls_base_url == "https://localhost:8444"
    assert settings.trust.header_sources == ("rfc9440", "nginx", "xfcc")
    assert settings.database_url.startswith("sqlite+aiosqlite:///")


def test_each_source_overrides_the_one_before(tmp_path: Path) -> None:
    config = toml(
        tmp_path,
        """
data_dir = "/srv/from-toml"
[server]
port = 9000
mtls_port = 9001
host = "0.0.0.0"
[tokens]
access_token_lifetime = 300
""",
    )
    env = {"CERTBOUND_SERVER__PORT": "9100", "certbound_server__mtls_port": "9101"}
    settings = load_settings(config, {"server.port": 9200, "tokens.audience": None}, env)
    assert settings.server.port == 9200  # flag over env over TOML
    assert settings.server.mtls_port == 9101  # env (any case) over TOML
    assert settings.server.host == "0.0.0.0"  # TOML over the default
    assert settings.tokens.access_token_lifetime == 300
    assert settings.tokens.audience == ()  # a flag that was not given (None) changes nothing
    assert settings.data_dir == Path("/srv/from-toml")


def test_the_config_file_may_come_from_the_environment(tmp_path: Path) -> None:
    config = toml(tmp_path, "[server]\nport = 9300\n")
    assert load_settings(None, None, {"CERTBOUND_CONFIG": str(config)}).server.port == 9300


def test_environment_values_are_converted_to_their_types() -> None:
    env = {
        "CERTBOUND_DATA_DIR": "/var/lib/cb",
        "CERTBOUND_SERVER__WORKERS": "3",
        "CERTBOUND_TLS__SESSION_TICKETS": "true",
        "CERTBOUND_TRUST__CRLS": '["/etc/a.crl", "/etc/b.crl"]',
        "CERTBOUND_TRUST__TRUSTED_PROXIES": "10.0.0.5/32, 10.0.0.6/32",
        "CERTBOUND_ADMIN__TOKEN": "an-admin-token-of-32-characters!",
        "CERTBOUND_LOG__FORMAT": "json",
    }
    settings = load_settings(None, None, env)
    assert settings.data_dir == Path("/var/lib/cb")
    assert settings.server.workers == 3
    assert settings.tls.session_tickets is True
    assert settings.trust.crls == (Path("/etc/a.crl"), Path("/etc/b.crl"))
    assert settings.trust.trusted_proxies == ("10.0.0.5/32", "10.0.0.6/32")
    assert settings.admin.token == Secret("an-admin-token-of-32-characters!")
    assert settings.log.format == "json"


def test_other_certbound_variables_are_left_alone() -> None:
    env = {
        "CERTBOUND_TEST_DATABASE_URL": "postgresql://x",
        "CERTBOUND_GATEWAY__UPSTREAM": "http://127.0.0.1:8080",
        "CERTBOUND_CONFIG_HINT": "x",
        "OTHER_SERVER__PORT": "1",
    }
    assert load_settings(None, None, env) == Settings()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("1", True), ("Yes", True), ("on", True),
     ("false", False), ("0", False), ("NO", False), (" off ", False)],
)  # fmt: skip
def test_booleans_written_as_text(tmp_path: Path, raw: str, expected: bool) -> None:
    env = {"CERTBOUND_REGISTRATION__OPEN": raw}
    assert load_settings(None, None, env).registration.open is expected
    config = toml(tmp_path, f"[tls]\nsession_tickets = {raw!r}\n")
    assert load_settings(config, None, NO_ENV).tls.session_tickets is expected


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("CERTBOUND_SERVER_PORT", "CERTBOUND_SERVER_PORT: sets no key: did you mean "
         "CERTBOUND_SERVER__PORT?"),
        ("certbound_tokens_access_token_lifetime", "certbound_tokens_access_token_lifetime: sets "
         "no key: did you mean CERTBOUND_TOKENS__ACCESS_TOKEN_LIFETIME?"),
        ("CERTBOUND_SERVER", "CERTBOUND_SERVER: sets no key: a section's keys come one by one, "
         "e.g. CERTBOUND_SERVER__HOST"),
    ],
)  # fmt: skip
def test_near_miss_variable_names_are_not_ignored(name: str, message: str) -> None:
    assert message in refused(env={name: "600"})


def test_workers_auto_means_one_per_usable_cpu(tmp_path: Path) -> None:
    config = toml(tmp_path, '[server]\nworkers = "auto"\n')
    assert load_settings(config, None, NO_ENV).server.workers == min(
        len(os.sched_getaffinity(0)), 64
    )


def test_normalised_values() -> None:
    settings = load_settings(
        None,
        {
            "server.issuer": "https://as.example.com/",
            "trust.nginx_header": "X-SSL-Cert",
            "tokens.signing_alg": "EdDSA",
        },
        NO_ENV,
    )
    assert settings.issuer == "https://as.example.com"
    assert settings.trust.nginx_header == "x-ssl-cert"
    assert settings.tokens.signing_alg == "Ed25519"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"CERTBOUND_SERVER__PORT": "http"},
            "server.port: Expected `int`, got `str` (CERTBOUND_SERVER__PORT)",
        ),
        (
            {"CERTBOUND_SERVER__PORT": "70000"},
            "server.port: Expected `int` <= 65535 (CERTBOUND_SERVER__PORT)",
        ),
        (
            {"CERTBOUND_SERVER__PROT": "1"},
            "server.prot: unknown key; known: host, port, mtls_port, issuer, mtls_base_url, "
            "workers, max_body_bytes (CERTBOUND_SERVER__PROT)",
        ),
        (
            {"CERTBOUND_TLS__SESSION_TICKETS": "maybe"},
            "tls.session_tickets: must be true or false (or 1/0, yes/no, on/off) "
            "(CERTBOUND_TLS__SESSION_TICKETS)",
        ),
        (
            {"CERTBOUND_TRUST__CRLS": '["a.crl",'},
            "CERTBOUND_TRUST__CRLS: not a JSON list",
        ),
        (
            {"CERTBOUND_TRUST__HEADER_SOURCES": "[1]"},
            "trust.header_sources: Expected `str`, got `int` (item 0) "
            "(CERTBOUND_TRUST__HEADER_SOURCES)",
        ),
        (
            {"CERTBOUND_LOG__LEVEL": "loud"},
            "log.level: must be one of debug, info, warning, error, not 'loud' "
            "(CERTBOUND_LOG__LEVEL)",
        ),
        (
            {"CERTBOUND_TOKENS__SIGNING_ALG": "HS256"},
            "tokens.signing_alg: must be one of ES256, PS256, Ed25519 "
            "(CERTBOUND_TOKENS__SIGNING_ALG)",
        ),
        (
            {"CERTBOUND_SERVER__ISSUER": "http://as.example.com"},
            "server.issuer: must be an https:// URL (CERTBOUND_SERVER__ISSUER)",
        ),
        (
            {"CERTBOUND_SERVER__MTLS_BASE_URL": "https://m.example.com/?x=1"},
            "server.mtls_base_url: must not have a query or fragment",
        ),
        (
            {"CERTBOUND_MTLS__CLIENT_AUTH_METHODS": "client_secret_basic"},
            "mtls.client_auth_methods: unknown method(s) client_secret_basic",
        ),
    ],
)
def test_a_bad_environment_value_names_key_reason_and_variable(
    env: dict[str, str], message: str
) -> None:
    error = refused(env=env)
    assert error.startswith("invalid configuration: ")
    assert message in error


def test_every_bad_section_is_reported_at_once() -> None:
    error = refused(
        flags={"server.port": -1, "tokens.access_token_lifetime": 5, "log.format": "xml"}
    )
    assert "server.port: Expected `int` >= 0 (command line)" in error
    assert "tokens.access_token_lifetime: Expected `int` >= 30 (command line)" in error
    assert "log.format: must be one of console, json, not 'xml' (command line)" in error


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[server]\nport = \n", "is not valid TOML"),
        ("[server]\nport = 1\n[server]\nhost = 'x'\n", "is not valid TOML"),
        ("servers = 1\n", "servers: unknown key; known: data_dir, server, tls, trust"),
        ("[serverz]\nport = 1\n", "serverz: unknown key"),
        ("server = 8443\n", "server: must be a table ([server])"),
        ("[tls]\ncert = 5\n", "tls.cert: Expected `path`, got `int`"),
        ("[trust]\ncrls = '/etc/a.crl'\n", "trust.crls: Expected `array`, got `str`"),
        ("[tls]\nsession_tickets = 'sometimes'\n", "tls.session_tickets: must be true or false"),
        ("[registration]\nopen = true\ninitial_access_token = 'abcdefghijklmnopqrst'\n",
         "registration: open registration takes no initial access token: choose one"),
    ],
)  # fmt: skip
def test_a_bad_config_file_names_the_file_and_the_key(
    tmp_path: Path, text: str, message: str
) -> None:
    config = toml(tmp_path, text)
    error = refused(config)
    assert message in error
    assert str(config) in error


def test_a_config_file_that_is_not_text_or_not_there(tmp_path: Path) -> None:
    assert "does not exist or is not a file" in refused(tmp_path / "missing.toml")
    assert "does not exist or is not a file" in refused(tmp_path)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe[server]\n")
    assert f"config file {binary}" in refused(binary)


def test_secrets_never_show() -> None:
    settings = load_settings(
        None,
        {
            "admin.token": "an-admin-token-of-32-characters!",
            "registration.initial_access_token": "an-initial-token-of-32-chars-xyz",
        },
        NO_ENV,
    )
    assert "an-admin-token" not in repr(settings)
    assert "an-admin-token" not in str(settings.admin.token)
    data = settings.to_json()
    assert data["admin"]["token"] == "**********"
    assert data["registration"]["initial_access_token"] == "**********"
    assert data["data_dir"] == str(settings.data_dir)
    assert settings.admin.token is not None
    assert settings.admin.token.get_secret_value() == "an-admin-token-of-32-characters!"


def test_settings_are_frozen_and_replace_makes_a_copy() -> None:
    settings = load_settings(None, None, NO_ENV)
    with pytest.raises(AttributeError):
        settings.server.port = 1  # type: ignore[misc]
    other = settings.replace(data_dir=Path("/x"))
    assert (other.data_dir, settings.data_dir != Path("/x")) == (Path("/x"), True)


def test_the_readme_shows_the_error_as_it_is(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text("utf-8")
    block = readme.split("where it came from:\n\n```text\n", 1)[1].split("```", 1)[0]
    config = toml(tmp_path, '[log]\nlevel = "loud"\n')
    error = refused(config, env={"CERTBOUND_SERVER__PORT": "70000"})
    shown = " ".join(block.split()).replace("/etc/certbound/certbound.toml", str(config))
    assert shown == f"error: {error}"


def test_unknown_flag_keys_and_a_bad_data_dir_are_named() -> None:
    error = refused(flags={"nope.x": 1, "bogus": 1, "data_dir": 5})
    assert "nope.x: unknown key (command line)" in error
    assert "bogus: unknown key (command line)" in error
    assert "data_dir: Expected `path`, got `int` (command line)" in error
