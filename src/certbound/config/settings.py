"""certbound's one configuration tree.

Precedence: defaults < TOML file (``--config`` / ``CERTBOUND_CONFIG``) < environment variables
``CERTBOUND_<SECTION>__<KEY>`` < command-line flags. Everything is validated before anything binds;
an error names each bad key, why, and where its value came from.

The sections are frozen :mod:`msgspec` structs: typed conversion and range checks come from the
library. msgspec and the tree cost ~3 MiB of memory per server process; pydantic-settings cost
~10 MiB more (docs/performance.md, "Workers and memory").
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import msgspec
from msgspec.structs import force_setattr

from certbound.config._sources import SourceError, describe, env_layer, flag_layer, toml_layer

__all__ = [
    "AdminSettings",
    "ConfigError",
    "LogSettings",
    "MtlsSettings",
    "RegistrationSettings",
    "Secret",
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


class Secret:
    """A configured secret: its repr, str and JSON form are ``**********``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class _Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A TOML table. ``__post_init__`` checks raise ValueError("<key>: <reason>")."""


MAX_WORKERS: Final = 64
_Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, e.g. a container's cpuset)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class ServerSettings(_Section, frozen=True):
    host: str = "127.0.0.1"
    port: _Port = 8443
    mtls_port: _Port = 8444
    issuer: str | None = None  # default: https://localhost:<port>
    mtls_base_url: str | None = None  # default: https://localhost:<mtls_port>
    workers: Annotated[int, msgspec.Meta(ge=1, le=MAX_WORKERS)] = 1  # "auto": one per CPU
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1024, le=10 * 1024 * 1024)] = 64 * 1024

    def __post_init__(self) -> None:
        for name in ("issuer", "mtls_base_url"):
            value = getattr(self, name)
            if value is None:
                continue
            if not value.startswith("https://"):
                raise ValueError(f"{name}: must be an https:// URL")
            if "?" in value or "#" in value:
                raise ValueError(f"{name}: must not have a query or fragment")
            force_setattr(self, name, value.rstrip("/"))


def _workers(value: object) -> object:
    """``"auto"`` is one worker per usable CPU; a number may come as text (TOML, env)."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return min(usable_cpus(), MAX_WORKERS)
        if not text.isdigit():
            raise ValueError(f"must be a number from 1 to {MAX_WORKERS}, or auto")
        return int(text)
    if isinstance(value, float | bool):
        raise ValueError(f"must be a number from 1 to {MAX_WORKERS}, or auto")
    return value


class LogSettings(_Section, frozen=True):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["console", "json"] = "console"  # json: one JSON object per line

    @property
    def level_number(self) -> int:
        return logging.getLevelNamesMapping()[self.level.upper()]


class TlsSettings(_Section, frozen=True):
    cert: Path | None = None  # server certificate chain (PEM, leaf first)
    key: Path | None = None
    key_password_file: Path | None = None
    session_tickets: bool = False


_HEADER_SOURCES = ("rfc9440", "nginx", "xfcc")
_HEADER_NAME = re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]+")


class TrustSettings(_Section, frozen=True):
    anchors: Path | None = None  # PEM bundle of CAs for tls_client_auth
    intermediates: Path | None = None  # PEM bundle of CAs to complete paths; never anchors
    crls: tuple[Path, ...] = ()
    trusted_proxies: tuple[str, ...] = ()  # CIDRs whose certificate headers are believed
    header_sources: tuple[str, ...] = _HEADER_SOURCES  # read from trusted proxies, in order
    nginx_header: str = "ssl-client-cert"  # header nginx fills from $ssl_client_escaped_cert

    def __post_init__(self) -> None:
        sources = self.header_sources
        unknown = [s for s in sources if s not in _HEADER_SOURCES]
        if unknown:
            raise ValueError(
                f"header_sources: unknown source(s) {', '.join(unknown)}; "
                f"known: {', '.join(_HEADER_SOURCES)}"
            )
        if len(set(sources)) != len(sources):
            raise ValueError("header_sources: names a source twice")
        if not sources:
            raise ValueError(
                "header_sources: at least one source is required "
                "(trusted_proxies decides whether any is read)"
            )
        lowered = self.nginx_header.strip().lower()
        if not _HEADER_NAME.fullmatch(lowered):
            raise ValueError("nginx_header: must be an HTTP header name")
        force_setattr(self, "nginx_header", lowered)


class StorageSettings(_Section, frozen=True):
    database_url: str | None = None  # default: SQLite file in the data directory


class TokenSettings(_Section, frozen=True):
    access_token_lifetime: Annotated[int, msgspec.Meta(ge=30, le=86400)] = 600
    audience: tuple[str, ...] = ()
    signing_alg: str = "ES256"

    def __post_init__(self) -> None:
        if self.signing_alg == "EdDSA":
            # RFC 9864's fully specified name for the same signatures
            force_setattr(self, "signing_alg", "Ed25519")
        elif self.signing_alg not in ("ES256", "PS256", "Ed25519"):
            raise ValueError("signing_alg: must be one of ES256, PS256, Ed25519")


class MtlsSettings(_Section, frozen=True):
    client_auth_methods: tuple[str, ...] = ("tls_client_auth", "self_signed_tls_client_auth")
    allow_jwks_uri_private: bool = (
        False  # allow jwks_uri on loopback/private addresses (tests, labs)
    )

    def __post_init__(self) -> None:
        known = {"tls_client_auth", "self_signed_tls_client_auth", "private_key_jwt", "none"}
        unknown = [m for m in self.client_auth_methods if m not in known]
        if unknown:
            raise ValueError(
                f"client_auth_methods: unknown method(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )
        if not self.client_auth_methods:
            raise ValueError("client_auth_methods: at least one method is required")


_X5T_S256 = re.compile(r"[A-Za-z0-9_-]{43}")


def _no_double_secret(value: Secret | None, file: Path | None, name: str) -> None:
    if value is not None and file is not None:
        raise ValueError(f"set {name} or {name}_file, not both")


class AdminSettings(_Section, frozen=True):
    """The admin API (``/admin/``): off unless a token or an admin certificate is configured.

    ``token`` (env ``CERTBOUND_ADMIN__TOKEN``) or ``token_file`` (one line) is the bearer token;
    only its SHA-256 is kept in memory. ``client_cert_thumbprints`` are RFC 8705 §3.1
    ``x5t#S256`` values of admin client certificates; ``client_subject_dns`` (RFC 4514) admit a
    certificate that chains to the trust anchors (like ``tls_client_auth``) with that subject.
    """

    token: Secret | None = None
    token_file: Path | None = None
    client_cert_thumbprints: tuple[str, ...] = ()
    client_subject_dns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        bad = [v for v in self.client_cert_thumbprints if not _X5T_S256.fullmatch(v)]
        if bad:
            raise ValueError(
                "client_cert_thumbprints: not an x5t#S256 thumbprint "
                f"(43 base64url characters): {bad[0]!r}"
            )
        from certbound.core.mtls.subject import DistinguishedNameError, parse_dn

        for dn in self.client_subject_dns:
            try:
                parse_dn(dn)
            except DistinguishedNameError as exc:
                raise ValueError(f"client_subject_dns: {dn!r}: {exc}") from None
        _no_double_secret(self.token, self.token_file, "token")


class RegistrationSettings(_Section, frozen=True):
    """RFC 7591 dynamic registration at ``/register``: off unless ``open`` or an initial access
    token (``initial_access_token`` / env ``CERTBOUND_REGISTRATION__INITIAL_ACCESS_TOKEN``, or
    ``initial_access_token_file``) is configured."""

    open: bool = False
    initial_access_token: Secret | None = None
    initial_access_token_file: Path | None = None

    def __post_init__(self) -> None:
        _no_double_secret(
            self.initial_access_token, self.initial_access_token_file, "initial_access_token"
        )
        has_token = self.initial_access_token or self.initial_access_token_file
        if self.open and has_token:
            raise ValueError("open registration takes no initial access token: choose one")


class Settings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The whole configuration. Sections mirror the TOML tables."""

    data_dir: Path = msgspec.field(default_factory=default_data_dir)
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    tls: TlsSettings = msgspec.field(default_factory=TlsSettings)
    trust: TrustSettings = msgspec.field(default_factory=TrustSettings)
    storage: StorageSettings = msgspec.field(default_factory=StorageSettings)
    tokens: TokenSettings = msgspec.field(default_factory=TokenSettings)
    mtls: MtlsSettings = msgspec.field(default_factory=MtlsSettings)
    admin: AdminSettings = msgspec.field(default_factory=AdminSettings)
    registration: RegistrationSettings = msgspec.field(default_factory=RegistrationSettings)
    log: LogSettings = msgspec.field(default_factory=LogSettings)

    @property
    def issuer(self) -> str:
        return self.server.issuer or f"https://localhost:{self.server.port}"

    @property
    def mtls_base_url(self) -> str:
        return self.server.mtls_base_url or f"https://localhost:{self.server.mtls_port}"

    @property
    def database_url(self) -> str:
        return self.storage.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'certbound.db'}"

    def replace(self, **changes: Any) -> Settings:
        """A copy with whole sections (or ``data_dir``) replaced."""
        return msgspec.structs.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values: paths as text, secrets as ``**********``."""
        data: dict[str, Any] = msgspec.to_builtins(self, enc_hook=_encode)
        return data


_SECTIONS: Final[dict[str, type[_Section]]] = {
    f.name: f.type for f in msgspec.structs.fields(Settings) if f.name != "data_dir"
}
# values some keys accept beyond their type, turned into it before conversion
_BEFORE: Final[dict[str, Callable[[object], object]]] = {"server.workers": _workers}


def _encode(value: object) -> object:
    if isinstance(value, Path | Secret):  # a Secret's str is its mask
        return str(value)
    raise NotImplementedError(type(value).__name__)


def _decode(kind: type, value: object) -> object:
    if isinstance(value, kind):
        return value
    if kind is Path and isinstance(value, str):
        return Path(value)
    if kind is Secret and isinstance(value, str):
        return Secret(value)
    raise ValueError(
        f"Expected `{'str' if kind is Secret else 'path'}`, got `{type(value).__name__}`"
    )


def load_settings(
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Load and validate the configuration. ``overrides`` are CLI flags as ``{"section.key": value}``.

    Raises :class:`ConfigError` naming every bad key, why, and its source (the TOML file, the
    environment variable or the command line).
    """
    env = os.environ if environ is None else environ
    path = config_file or (Path(p) if (p := env.get("CERTBOUND_CONFIG")) else None)
    if path is not None and not path.is_file():
        raise ConfigError(f"config file {path} does not exist or is not a file")
    problems: list[str] = []
    try:
        layers = [toml_layer(path, _SECTIONS, problems)] if path is not None else []
    except SourceError as exc:
        raise ConfigError(str(exc)) from None
    layers += [env_layer(env, _SECTIONS, problems), flag_layer(overrides or {})]
    values: dict[str, object] = {}
    origin: dict[str, str] = {}
    for layer in layers:
        values.update(layer.values)
        origin.update(layer.origin)
    for key, before in _BEFORE.items():
        if key in values:
            try:
                values[key] = before(values[key])
            except ValueError as exc:
                problems.append(f"{key}: {exc} ({origin[key]})")
                del values[key]
    tables: dict[str, dict[str, object]] = {}
    for key, value in values.items():
        section, _, name = key.partition(".")
        if name and section in _SECTIONS:
            tables.setdefault(section, {})[name] = value
        elif key != "data_dir":
            problems.append(f"{key}: unknown key ({origin[key]})")
    sections: dict[str, Any] = {}
    for section, kind in _SECTIONS.items():
        try:
            sections[section] = msgspec.convert(
                tables.get(section, {}), kind, strict=False, dec_hook=_decode
            )
        except msgspec.ValidationError as exc:
            problems.append(describe(_SECTIONS, section, exc, origin))
    data_dir = values.get("data_dir")
    if isinstance(data_dir, str | Path):
        sections["data_dir"] = Path(data_dir)
    elif data_dir is not None:
        problems.append(
            f"data_dir: Expected `path`, got `{type(data_dir).__name__}` ({origin['data_dir']})"
        )
    if problems:
        raise ConfigError("invalid configuration: " + "; ".join(problems))
    return Settings(**sections)
