"""The one registry of sportlens: models. A model is a plain function decorated with
``@register_model`` returning an ``nn.Module`` (after timm's ``create_model``/``list_models``)."""
from __future__ import annotations

from typing import Callable

import torch.nn as nn

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    if fn.__name__ in _MODELS:
        raise ValueError(f"model {fn.__name__!r} registered twice")
    _MODELS[fn.__name__] = fn
    return fn


def model_entrypoint(name: str) -> Callable[..., nn.Module]:
    """The registered function itself (e.g. to read its keyword arguments with ``inspect.signature``)."""
    if name not in _MODELS:
        raise KeyError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    return _MODELS[name]


def create_model(name: str, **kwargs) -> nn.Module:
    return model_entrypoint(name)(**kwargs)


def list_models() -> list[str]:
    return sorted(_MODELS)
