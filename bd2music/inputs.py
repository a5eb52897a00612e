"""Checks of request parameters as they arrive (from the API they can be any JSON value): one InputError line
that names the parameter, what it must be and what came, never a silent coercion."""

from __future__ import annotations

import math
from pathlib import PurePath

from bd2music.errors import InputError


def number(value: object, name: str, low: float, high: float, whole: bool = False) -> float | int:
    """``value`` when it is a number in [low, high] (a whole one with ``whole``)."""
    kind = "a whole number" if whole else "a number"
    span = f"between {_show(low)} and {_show(high)}"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _error(name, f"{kind} {span}", value)
    if whole and value != int(value):
        raise _error(name, kind, value)
    if not low <= value <= high:
        raise _error(name, span, value)
    return int(value) if whole else float(value)


def check_seed(seed: int) -> None:
    """InputError unless ``seed`` is a valid generator seed."""
    if not 0 <= seed < 2**32:
        raise InputError(f"seed must be between 0 and 2**32 - 1, got {seed}")


def flag(value: object, name: str) -> bool:
    """``value`` when it is true or false."""
    if not isinstance(value, bool):
        raise _error(name, "true or false", value)
    return value


def choice(value: object, name: str, choices: list[str] | tuple[str, ...]) -> str:
    """``value`` when it is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise _error(name, f"one of {', '.join(choices)}", value)
    return value


def suffix(path: str, suffixes: tuple[str, ...], what: str) -> str:
    """``path`` when its name ends with one of ``suffixes`` (``what`` says what they are, for the message, which
    names the file and not its folder)."""
    name = PurePath(path).name
    if PurePath(name).suffix.lower() not in suffixes:
        raise InputError(f"{name}: not {what}")
    return path


def not_a_file(value: object, name: str) -> InputError:
    """The error for a request whose ``name`` is not a file sent with it (an upload, or the API's file object)."""
    return _error(name, "a file sent with the request (gradio_client.handle_file(path))", value)


def prompt(value: object, name: str = "prompt", max_chars: int = 300) -> str:
    """``value`` stripped, when it is text of 1 to ``max_chars`` characters with no control characters."""
    if not isinstance(value, str):
        raise _error(name, f"text of 1 to {max_chars} characters", value)
    text = value.strip()
    if not text:
        raise InputError(f"{name} must not be empty: describe a sound, e.g. 'rain on a tin roof'")
    if len(text) > max_chars:
        raise InputError(f"{name} must be at most {max_chars} characters, got {len(text)}")
    if any(not character.isprintable() for character in text):
        raise InputError(f"{name} must be plain text without control characters")
    return text


def _show(value: object) -> str:
    """A number as people write it (whole numbers in full), anything else as Python shows it, cut short."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        text = str(int(value)) if math.isfinite(value) and value == int(value) else f"{value:g}"
    else:
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _error(name: str, expected: str, value: object) -> InputError:
    return InputError(f"{name} must be {expected}, got {_show(value)}")
