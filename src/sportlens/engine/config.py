"""Experiment configs: a dataclass of defaults, overridden by a flat YAML file, then by ``--set k=v``.

A YAML file holds only what differs from the defaults, as dotted keys::

    model: stgcn
    model_kwargs.hidden: 256      # a key inside a dict field
    fit.lr: 0.001

(a nested mapping under a dataclass field works too). Every value is checked against the field's
type; an unknown key or a wrong type raises ``InputError`` naming the file, the key and what is valid.
"""
from __future__ import annotations

import copy
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Iterable

import yaml

from sportlens.config import from_overrides
from sportlens.engine.checkpoint import atomic_path, plain
from sportlens.errors import InputError

_MISSING = object()


def load_config(yaml_path: str | Path | None, overrides: Iterable[str] = (), base: Any = None) -> Any:
    """``base`` (a dataclass instance or class) with the YAML file's and then ``overrides``' values."""
    cfg = base() if isinstance(base, type) else base
    if cfg is None or not dataclasses.is_dataclass(cfg):
        raise TypeError(f"base must be a dataclass instance or class, got {base!r}")
    items: list[tuple[str, Any, str]] = []
    if yaml_path is not None:
        items += [(k, v, str(yaml_path)) for k, v in _read_yaml(Path(yaml_path)).items()]
    items += [(*parse_override(text), "--set") for text in overrides]
    for key, value, source in items:
        cfg = _apply(cfg, key, value, source)
    return cfg


def peek_key(yaml_path: str | Path | None, overrides: Iterable[str], key: str, default: Any) -> Any:
    """The value ``key`` will have (YAML, then ``--set``), without building a config: which config
    class to build can depend on it (``model``: skeleton or video experiment)."""
    value = default
    if yaml_path is not None:
        value = _read_yaml(Path(yaml_path)).get(key, value)
    for text in overrides:
        k, v = parse_override(text)
        value = v if k == key else value
    return value


def parse_override(text: str) -> tuple[str, Any]:
    """``"fit.lr=1e-3"`` -> ``("fit.lr", 0.001)``; the value is parsed as YAML (numbers, bools, lists)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise InputError(f"--set {text!r}: expected key=value, e.g. --set fit.lr=0.001")
    try:
        return key.strip(), yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise InputError(f"--set {text!r}: the value is not valid YAML ({e.problem})") from None


def save_resolved_config(cfg: Any, path: str | Path) -> Path:
    """Write every setting as a flat YAML file that ``load_config`` reads back to the same config."""
    with atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump(flatten_config(cfg), sort_keys=False, allow_unicode=True))
    return Path(path)


def flatten_config(cfg: Any, prefix: str = "") -> dict[str, Any]:
    """``{"fit.lr": 0.001, "model_kwargs": {...}, ...}`` with plain YAML/JSON values."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            out.update(flatten_config(value, f"{prefix}{f.name}."))
        else:
            out[prefix + f.name] = _yamlable(value)
    return out


def valid_keys(cfg: Any, prefix: str = "") -> list[str]:
    keys = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            keys += valid_keys(value, f"{prefix}{f.name}.")
        else:
            keys.append(prefix + f.name + (".*" if isinstance(value, dict) else ""))
    return keys


def _yamlable(value: Any) -> Any:
    value = plain(value)
    if isinstance(value, (list, tuple)):
        return [_yamlable(v) for v in value]
    if isinstance(value, dict):
        return {k: _yamlable(v) for k, v in value.items()}
    return value


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: config file cannot be read ({e})") from None
    except yaml.YAMLError as e:
        raise InputError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping of settings (key: value), got {type(data).__name__}")
    return {str(k): v for k, v in data.items()}


def _apply(cfg: Any, key: str, value: Any, source: str) -> Any:
    """Check one dotted key and its value against ``cfg``'s types and return the updated config."""
    node, path = cfg, key.split(".")
    for i, name in enumerate(path):
        if not dataclasses.is_dataclass(node) or name not in {f.name for f in dataclasses.fields(node)}:
            break
        tp, current = _field_type(node, name), getattr(node, name)
        prefix, rest = ".".join(path[: i + 1]), path[i + 1:]
        if dataclasses.is_dataclass(current):
            if rest:
                node = current
                continue
            if isinstance(value, dict):  # a nested mapping: apply each entry
                for sub, sub_value in value.items():
                    cfg = _apply(cfg, f"{prefix}.{sub}", sub_value, source)
                return cfg
        elif rest:  # a key inside a dict field, e.g. model_kwargs.hidden
            if not isinstance(current, dict):
                break
            value = _set_in_dict(current, rest, value, source, key)
        return _replace(cfg, prefix, _coerce(value, tp, key, source), source)
    raise InputError(f"{source}: unknown setting {key!r}; valid keys: {', '.join(valid_keys(cfg))}")


def _field_type(node: Any, name: str) -> Any:
    try:
        return typing.get_type_hints(type(node))[name]
    except Exception:  # noqa: BLE001 - annotations that cannot be resolved (e.g. local classes)
        declared = next(f.type for f in dataclasses.fields(node) if f.name == name)
        if not isinstance(declared, str):
            return declared
        current = getattr(node, name)
        return type(current) if dataclasses.is_dataclass(current) else Any


def _set_in_dict(current: dict, parts: list[str], value: Any, source: str, key: str) -> dict:
    merged = copy.deepcopy(current)
    target = merged
    for part in parts[:-1]:
        target = target.setdefault(part, {})
        if not isinstance(target, dict):
            raise InputError(f"{source}: setting {key!r}: {part!r} is not a mapping")
    target[parts[-1]] = value
    return merged


def _replace(cfg: Any, key: str, value: Any, source: str) -> Any:
    try:
        return from_overrides(cfg, {key: value})
    except (ValueError, TypeError) as e:  # a dataclass __post_init__ rejecting the value
        raise InputError(f"{source}: setting {key!r} = {value!r} is invalid ({e})") from None


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str, source: str) -> Any:
    """Return ``value`` converted to ``tp`` (int->float, list->tuple, str->Path) or raise InputError."""
    result = _convert(value, tp)
    if result is _MISSING:
        raise InputError(f"{source}: setting {key!r} expects {_type_name(tp)}, got {value!r} "
                         f"({type(value).__name__})")
    return result


def _convert(value: Any, tp: Any) -> Any:  # noqa: C901 - one case per kind of annotation
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or tp is object:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None if type(None) in args else _MISSING
        for arg in args:
            if arg is not type(None) and (out := _convert(value, arg)) is not _MISSING:
                return out
        return _MISSING
    if origin is typing.Literal:
        return value if value in args else _MISSING
    if tp is bool:
        return value if isinstance(value, bool) else _MISSING
    if tp is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _MISSING
    if tp is float:
        if isinstance(value, str):  # PyYAML reads "1e-3" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                return _MISSING
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else _MISSING
    if tp is str:
        return value if isinstance(value, str) else _MISSING
    if tp is Path:
        return Path(value) if isinstance(value, (str, Path)) else _MISSING
    if tp in (tuple, list) or origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            return _MISSING
        kind = origin or tp
        if not args:
            return kind(value)
        if kind is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(args) != len(value):
                return _MISSING
            items = [_convert(v, a) for v, a in zip(value, args)]
        else:
            items = [_convert(v, args[0]) for v in value]
        return _MISSING if any(i is _MISSING for i in items) else kind(items)
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            return _MISSING
        if len(args) != 2:
            return dict(value)
        items = {k: _convert(v, args[1]) for k, v in value.items()}
        return _MISSING if any(v is _MISSING for v in items.values()) else items
    if isinstance(tp, type):
        return value if isinstance(value, tp) else _MISSING
    return value  # an annotation we do not know how to check
