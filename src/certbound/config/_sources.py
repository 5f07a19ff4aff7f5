"""Where configuration values come from: the TOML file, ``CERTBOUND_*`` environment variables and
command-line flags, each flattened to ``section.key`` values that remember their source, and
msgspec's validation errors rewritten as ``section.key: reason (source)``.

Knows the shape of the tree only through ``sections`` (name → struct type), so it does not import
the settings it feeds.
"""

from __future__ import annotations

import json
import re
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import msgspec

__all__ = ["Layer", "SourceError", "describe", "env_layer", "flag_layer", "toml_layer"]

Sections = Mapping[str, type[msgspec.Struct]]
_ENV_PREFIX: Final = "CERTBOUND_"


class SourceError(ValueError):
    """A source that cannot be read at all (a missing or malformed TOML file)."""


class Layer:
    """Values from one source, keyed by ``section.key`` (or ``data_dir``), and where each came from."""

    def __init__(self) -> None:
        self.values: dict[str, object] = {}
        self.origin: dict[str, str] = {}

    def put(self, key: str, value: object, origin: str) -> None:
        self.values[key] = value
        self.origin[key] = origin


def _flatten(
    table: Mapping[str, Any], sections: Sections, origin: str, layer: Layer, problems: list[str]
) -> None:
    """A TOML document into ``section.key`` values; unknown tables and keys are problems."""
    for name, value in table.items():
        if name == "data_dir":
            layer.put(name, value, origin)
        elif name in sections and isinstance(value, Mapping):
            for key, item in value.items():
                kind = _field_type(sections, name, key)
                layer.put(f"{name}.{key}", _text_boolean(kind, item), origin)
        elif name in sections:
            problems.append(f"{name}: must be a table ([{name}]) ({origin})")
        else:
            problems.append(
                f"{name}: unknown key; known: data_dir, {', '.join(sections)} ({origin})"
            )


def toml_layer(path: Path, sections: Sections, problems: list[str]) -> Layer:
    """The TOML file's values; SourceError when it cannot be read or parsed."""
    layer = Layer()
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise SourceError(f"config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SourceError(f"config file {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise SourceError(f"config file {path} is not UTF-8 text") from None
    _flatten(document, sections, str(path), layer, problems)
    return layer


def _field_type(sections: Sections, section: str, key: str) -> Any:
    for field in msgspec.structs.fields(sections[section]):
        if field.name == key:
            return field.type
    return None


def env_layer(environ: Mapping[str, str], sections: Sections, problems: list[str]) -> Layer:
    """``CERTBOUND_<SECTION>__<KEY>`` (any case) and ``CERTBOUND_DATA_DIR``. Lists are JSON
    (``'["a", "b"]'``) or comma-separated; booleans true/false, 1/0, yes/no or on/off. Other
    ``CERTBOUND_*`` names belong to other tools (``CERTBOUND_CONFIG``, ``CERTBOUND_GATEWAY__*``)
    and are left alone, except the near misses ``CERTBOUND_SERVER_PORT`` (one underscore where
    two belong) and ``CERTBOUND_SERVER`` (a whole section), which would otherwise be ignored
    without a word."""
    layer = Layer()
    for name, raw in sorted(environ.items()):
        upper = name.upper()
        if not upper.startswith(_ENV_PREFIX):
            continue
        rest = upper[len(_ENV_PREFIX) :].lower()
        if rest == "data_dir":
            layer.put("data_dir", raw, name)
            continue
        section, sep, key = rest.partition("__")
        if not sep:
            if (hint := _near_miss(rest, sections)) is not None:
                problems.append(f"{name}: {hint}")
            continue
        if section not in sections:
            continue
        kind = _field_type(sections, section, key)
        value: object = raw
        if typing.get_origin(kind) is tuple:
            value = _env_list(raw, name, problems)
            if value is None:
                continue
        layer.put(f"{section}.{key}", _text_boolean(kind, value), name)
    return layer


_BOOLEANS: Final = {
    **dict.fromkeys(("true", "1", "yes", "on"), True),
    **dict.fromkeys(("false", "0", "no", "off"), False),
}


def _text_boolean(kind: Any, value: object) -> object:
    """For a ``bool`` setting, a boolean written as text ("yes", "off", ...) as the bool;
    anything else unchanged."""
    if kind is bool and isinstance(value, str):
        return _BOOLEANS.get(value.strip().lower(), value)
    return value


def _near_miss(rest: str, sections: Sections) -> str | None:
    """What a ``CERTBOUND_<rest>`` that names no setting probably meant, if it is that close."""
    if rest in sections:
        return (
            f"sets no key: a section's keys come one by one, "
            f"e.g. CERTBOUND_{rest.upper()}__{_first_key(sections, rest).upper()}"
        )
    for section in sections:
        key = rest.removeprefix(f"{section}_")
        if key != rest and _field_type(sections, section, key) is not None:
            return f"sets no key: did you mean CERTBOUND_{section.upper()}__{key.upper()}?"
    return None


def _first_key(sections: Sections, section: str) -> str:
    return msgspec.structs.fields(sections[section])[0].name


def _env_list(raw: str, name: str, problems: list[str]) -> list[object] | None:
    text = raw.strip()
    if not text.startswith("["):
        return [part.strip() for part in text.split(",") if part.strip()]
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        problems.append(f'{name}: not a JSON list ({exc.msg}); write e.g. \'["a", "b"]\' or a,b')
        return None
    if not isinstance(value, list):
        problems.append(f'{name}: not a JSON list; write e.g. \'["a", "b"]\' or a,b')
        return None
    return value


def flag_layer(overrides: Mapping[str, Any]) -> Layer:
    """Command-line flags as ``{"server.port": 1}``; None means the flag was not given."""
    layer = Layer()
    for key, value in overrides.items():
        if value is not None:
            layer.put(key, value, "command line")
    return layer


_MSGSPEC_AT = re.compile(r"(?P<reason>.*) - at `\$(?P<where>[^`]*)`", re.DOTALL)


def describe(
    sections: Sections, section: str, exc: msgspec.ValidationError, origin: Mapping[str, str]
) -> str:
    """msgspec's "Expected `int` >= 1 - at `$.workers`" or our "<key>: <reason>" as
    ``section.key: reason (where the value came from)``."""
    text = str(exc)
    match = _MSGSPEC_AT.fullmatch(text)
    reason, where = (match["reason"], match["where"]) if match else (text, "")
    path = where.lstrip(".")
    field = path.split(".")[0].split("[")[0]
    if path != field:  # an item of a list: ".crls[1]"
        reason += f" (item {path[len(field) :].strip('[]')})"
    known = [f.name for f in msgspec.structs.fields(sections[section])]
    unknown = re.fullmatch(r"Object contains unknown field `(.+)`", reason)
    if unknown:
        field, reason = unknown[1], f"unknown key; known: {', '.join(known)}"
    elif reason.startswith("Invalid enum value") and field:
        kind = _field_type(sections, section, field)
        reason = f"must be one of {', '.join(typing.get_args(kind))}, not {reason.split(' ', 3)[3]}"
    elif reason.startswith("Expected `bool`"):
        reason = "must be true or false (or 1/0, yes/no, on/off)"
    elif not field:
        named, sep, rest = reason.partition(": ")
        if sep and named in known:
            field, reason = named, rest
    key = f"{section}.{field}" if field else section
    if field:
        source = origin.get(key)
    else:  # a rule across the section's keys: every source that set one
        source = ", ".join(dict.fromkeys(o for k, o in origin.items() if k.startswith(f"{key}.")))
    return f"{key}: {reason}" + (f" ({source})" if source else "")
