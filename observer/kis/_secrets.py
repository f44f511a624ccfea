"""Secrets that cannot leak by accident.

``Secret`` holds an app key, app secret, access token, approval key or account number. Its
``repr``/``str``/``format`` are masked (``'PSxx…(36 chars)'``, or ``***`` when short), it
refuses to be pickled or JSON-encoded, and ``reveal()`` is the one way to read it — used only
where the value goes on the wire or into the 0600 token cache.

Every ``Secret`` registers its value in a process-wide registry, and ``SecretMaskingFilter``
(a ``logging.Filter``) replaces any registered value found in a log record — message,
arguments, ``extra`` fields and the formatted traceback — with its mask.
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Iterable
from typing import Final, NoReturn

__all__ = [
    "Secret",
    "SecretMaskingFilter",
    "install_secret_masking",
    "known_secret_values",
    "mask_secrets",
]

_MIN_REVEALED_LEN: Final = 12  # below this nothing of the value is shown
_MIN_REGISTERED_LEN: Final = 4  # shorter values would mask ordinary words in logs

_registry_lock = threading.Lock()
_registry: dict[str, str] = {}  # value -> mask


def _mask(value: str) -> str:
    if len(value) < _MIN_REVEALED_LEN:
        return "***"
    return f"{value[:2]}xx…({len(value)} chars)"


class Secret:
    """A string that never shows itself: masked in repr/str/format, refused by pickle."""

    __slots__ = ("_mask", "_value")

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret holds a str")
        self._value = value
        self._mask = _mask(value)
        if len(value) >= _MIN_REGISTERED_LEN:
            with _registry_lock:
                _registry[value] = self._mask

    def reveal(self) -> str:
        """The value itself: only for the wire and the 0600 token cache."""
        return self._value

    @property
    def masked(self) -> str:
        return self._mask

    def __len__(self) -> int:
        return len(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return f"Secret('{self._mask}')"

    def __str__(self) -> str:
        return self._mask

    def __format__(self, format_spec: str) -> str:
        return format(self._mask, format_spec)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")


def known_secret_values() -> frozenset[str]:
    """Every value ever wrapped in a ``Secret`` in this process (for tests that scan output)."""
    with _registry_lock:
        return frozenset(_registry)


def mask_secrets(text: str) -> str:
    """``text`` with every registered secret value replaced by its mask."""
    with _registry_lock:
        items = sorted(_registry.items(), key=lambda kv: -len(kv[0]))  # longest first
    for value, mask in items:
        if value in text:
            text = text.replace(value, mask)
    return text


class SecretMaskingFilter(logging.Filter):
    """Masks every registered secret in a record; attach it to handlers (it drops nothing)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the formatter's problem, not ours
            message = str(record.msg)
        masked = mask_secrets(message)
        if masked != message or record.args:
            record.msg = masked
            record.args = None
        for key, value in list(vars(record).items()):
            if key in ("msg", "args", "exc_info", "exc_text", "stack_info"):
                continue
            if isinstance(value, str):
                replaced = mask_secrets(value)
                if replaced is not value and replaced != value:
                    setattr(record, key, replaced)
            elif isinstance(value, tuple | list | dict):
                text = repr(value)
                if mask_secrets(text) != text:
                    setattr(record, key, mask_secrets(text))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_secrets(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_secrets(record.stack_info)
        return True


def install_secret_masking(
    handlers: Iterable[logging.Handler] | None = None,
) -> SecretMaskingFilter:
    """Attach one ``SecretMaskingFilter`` to ``handlers`` (default: the root logger's handlers)."""
    flt = SecretMaskingFilter()
    for handler in logging.getLogger().handlers if handlers is None else handlers:
        if not any(isinstance(f, SecretMaskingFilter) for f in handler.filters):
            handler.addFilter(flt)
    return flt
