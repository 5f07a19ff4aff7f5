"""certbound's one configuration tree.

Precedence: defaults < TOML file (``--config`` / ``CERTBOUND_CONFIG``) < environment variables
``CERTBOUND_<SECTION>__<KEY>`` < command-line flags. Everything is validated before anything binds;
an error names the key and why.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

__all__ = [
    "AdminSettings",
    "ConfigError",
    "MtlsSettings",
    "RegistrationSettings",
    "ServerSettings",
    "Settings",
    "StorageSettings",
    "TlsSettings",
    "TokenSettings",
    "TrustSettings",
    "default_data_dir",
    "load_settings",
]


class ConfigError(ValueError):
    """Configuration that cannot be used; the message names the key and the reason."""


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/certbound`` or ``~/.local/share/certbound``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "certbound"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


MAX_WORKERS = 64


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, e.g. a container's cpuset)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8443, ge=0, le=65535)
    mtls_port: int = Field(8444, ge=0, le=65535)
    issuer: str | None = None  # default: https://localhost:<port>
    mtls_base_url: str | None = None  # default: https://localhost:<mtls_port>
    workers: int = Field(1, ge=1, le=MAX_WORKERS)  # "auto": one per usable CPU
    max_body_bytes: int = Field(64 * 1024, ge=1024, le=10 * 1024 * 1024)

    @field_validator("issuer", "mtls_base_url")
    @classmethod
    def _https_no_trailing_slash(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith("https://"):
            raise ValueError("must be an https:// URL")
        if "?" in value or "#" in value:
            raise ValueError("must not have a query or fragment")
        return value.rstrip("/")

    @field_validator("workers", mode="before")
    @classmethod
    def _auto_workers(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip().lower()
            if text == "auto":
                return min(usable_cpus(), MAX_WORKERS)
            if not text.isdigit():
                raise ValueError(f"must be a number from 1 to {MAX_WORKERS}, or auto")
        return value


class LogSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["console", "json"] = "console"  # json: one JSON object per line

    @property
    def level_number(self) -> int:
        return logging.getLevelNamesMapping()[self.level.upper()]


class TlsSettings(_Section):
    cert: Path | None = None  # server certificate chain (PEM, leaf first)
    key: Path | None = None
    key_password_file: Path | None = None
    session_tickets: bool = False


_HEADER_SOURCES = ("rfc9440", "nginx", "xfcc")
_HEADER_NAME = re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]+")


class TrustSettings(_Section):
    anchors: Path | None = None  # PEM bundle of CAs for tls_client_auth
    intermediates: Path | None = None  # PEM bundle of CAs to complete paths; never anchors
    crls: tuple[Path, ...] = ()
    trusted_proxies: tuple[str, ...] = ()  # CIDRs whose certificate headers are believed
    header_sources: tuple[str, ...] = _HEADER_SOURCES  # read from trusted proxies, in order
    nginx_header: str = "ssl-client-cert"  # header nginx fills from $ssl_client_escaped_cert

    @field_validator("header_sources")
    @classmethod
    def _known_sources(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [s for s in value if s not in _HEADER_SOURCES]
        if unknown:
            raise ValueError(
                f"unknown source(s) {', '.join(unknown)}; known: {', '.join(_HEADER_SOURCES)}"
            )
        if len(set(value)) != len(value):
            raise ValueError("names a source twice")
        if not value:
            raise ValueError(
                "at least one source is required (trusted_proxies decides whether any is read)"
            )
        return value

    @field_validator("nginx_header")
    @classmethod
    def _header_name(cls, value: str) -> str:
        lowered = value.strip().lower()
        if not _HEADER_NAME.fullmatch(lowered):
            raise ValueError("must be an HTTP header name")
        return lowered


class StorageSettings(_Section):
    database_url: str | None = None  # default: SQLite file in the data directory


class TokenSettings(_Section):
    access_token_lifetime: int = Field(600, ge=30, le=86400)
    audience: tuple[str, ...] = ()
    signing_alg: str = "ES256"

    @field_validator("signing_alg")
    @classmethod
    def _known_alg(cls, value: str) -> str:
        if value == "EdDSA":
            return "Ed25519"  # RFC 9864's fully specified name for the same signatures
        if value not in ("ES256", "PS256", "Ed25519"):
            raise ValueError("must be one of ES256, PS256, Ed25519")
        return value


class MtlsSettings(_Section):
    client_auth_methods: tuple[str, ...] = ("tls_client_auth", "self_signed_tls_client_auth")
    allow_jwks_uri_private: bool = (
        False  # allow jwks_uri on loopback/private addresses (tests, labs)
    )

    @field_validator("client_auth_methods")
    @classmethod
    def _known_methods(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        known = {"tls_client_auth", "self_signed_tls_client_auth", "private_key_jwt", "none"}
        unknown = [m for m in value if m not in known]
        if unknown:
            raise ValueError(
                f"unknown method(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        if not value:
            raise ValueError("at least one method is required")
        return value


_X5T_S256 = re.compile(r"[A-Za-z0-9_-]{43}")


def _no_double_secret(value: SecretStr | None, file: Path | None, name: str) -> None:
    if value is not None and file is not None:
        raise ValueError(f"set {name} or {name}_file, not both")


class AdminSettings(_Section):
    """The admin API (``/admin/``): off unless a token or an admin certificate is configured.

    ``token`` (env ``CERTBOUND_ADMIN__TOKEN``) or ``token_file`` (one line) is the bearer token;
    only its SHA-256 is kept in memory. ``client_cert_thumbprints`` are RFC 8705 §3.1
    ``x5t#S256`` values of admin client certificates; ``client_subject_dns`` (RFC 4514) admit a
    certificate that chains to the trust anchors (like ``tls_client_auth``) with that subject.
    """

    token: SecretStr | None = None
    token_file: Path | None = None
    client_cert_thumbprints: tuple[str, ...] = ()
    client_subject_dns: tuple[str, ...] = ()

    @field_validator("client_cert_thumbprints")
    @classmethod
    def _thumbprints(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [v for v in value if not _X5T_S256.fullmatch(v)]
        if bad:
            raise ValueError(f"not an x5t#S256 thumbprint (43 base64url characters): {bad[0]!r}")
        return value

    @field_validator("client_subject_dns")
    @classmethod
    def _dns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from certbound.core.mtls.subject import DistinguishedNameError, parse_dn

        for dn in value:
            try:
                parse_dn(dn)
            except DistinguishedNameError as exc:
                raise ValueError(f"{dn!r}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_token_source(self) -> AdminSettings:
        _no_double_secret(self.token, self.token_file, "token")
        return self


class RegistrationSettings(_Section):
    """RFC 7591 dynamic registration at ``/register``: off unless ``open`` or an initial access
    token (``initial_access_token`` / env ``CERTBOUND_REGISTRATION__INITIAL_ACCESS_TOKEN``, or
    ``initial_access_token_file``) is configured."""

    open: bool = False
    initial_access_token: SecretStr | None = None
    initial_access_token_file: Path | None = None

    @model_validator(mode="after")
    def _one_mode(self) -> RegistrationSettings:
        _no_double_secret(
            self.initial_access_token, self.initial_access_token_file, "initial_access_token"
        )
        has_token = self.initial_access_token or self.initial_access_token_file
        if self.open and has_token:
            raise ValueError("open registration takes no initial access token: choose one")
        return self


class Settings(BaseSettings):
    """The whole configuration. Sections mirror the TOML tables."""

    model_config = SettingsConfigDict(
        env_prefix="CERTBOUND_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    data_dir: Path = Field(default_factory=default_data_dir)
    server: ServerSettings = Field(default_factory=ServerSettings)
    tls: TlsSettings = Field(default_factory=TlsSettings)
    trust: TrustSettings = Field(default_factory=TrustSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    tokens: TokenSettings = Field(default_factory=TokenSettings)
    mtls: MtlsSettings = Field(default_factory=MtlsSettings)
    admin: AdminSettings = Field(default_factory=AdminSettings)
    registration: RegistrationSettings = Field(default_factory=RegistrationSettings)
    log: LogSettings = Field(default_factory=LogSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if _TOML_PATH.path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=_TOML_PATH.path))
        return tuple(sources)

    @property
    def issuer(self) -> str:
        return self.server.issuer or f"https://localhost:{self.server.port}"

    @property
    def mtls_base_url(self) -> str:
        return self.server.mtls_base_url or f"https://localhost:{self.server.mtls_port}"

    @property
    def database_url(self) -> str:
        return self.storage.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'certbound.db'}"


class _TomlPath:
    path: Path | None = None


_TOML_PATH = _TomlPath()


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"server.port": 1}`` → ``{"server": {"port": 1}}``; None values are dropped (flag not given)."""
    out: dict[str, Any] = {}
    for dotted, value in flat.items():
        if value is None:
            continue
        node = out
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def load_settings(
    config_file: Path | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Load and validate the configuration. ``overrides`` are CLI flags as ``{"section.key": value}``.

    Raises :class:`ConfigError` naming each bad key and its source.
    """
    path = config_file or (Path(p) if (p := os.environ.get("CERTBOUND_CONFIG")) else None)
    if path is not None and not path.is_file():
        raise ConfigError(f"config file {path} does not exist or is not a file")
    _TOML_PATH.path = path
    try:
        return Settings(**_nest(overrides or {}))
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None
    except ValueError as exc:  # TOML syntax errors surface as ValueError subclasses
        raise ConfigError(f"{path}: {exc}") from None
    finally:
        _TOML_PATH.path = None


def _describe(exc: ValidationError, path: Path | None) -> str:
    problems = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(root)"
        # our own validators' messages, without pydantic's "Value error, " in front
        problems.append(f"{key}: {err['msg'].removeprefix('Value error, ')}")
    where = (
        f" (sources: flags, CERTBOUND_* env, {path})"
        if path
        else " (sources: flags, CERTBOUND_* env)"
    )
    return "invalid configuration" + where + ": " + "; ".join(problems)
