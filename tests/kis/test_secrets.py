"""Secret masking: reprs, formatting, pickling and log records."""

from __future__ import annotations

import logging
import pickle

import pytest

from observer.kis import Secret, SecretMaskingFilter, mask_secrets

VALUE = "PSabcdefghijklmnopqrstuvwxyz01234567"  # 36 chars


def test_repr_and_str_are_masked() -> None:
    """repr/str/f-string show 'PSxx…(36 chars)', never the value."""
    s = Secret(VALUE)
    assert (
        repr(s),
        str(s),
        f"{s}",
    ) == ("Secret('PSxx…(36 chars)')", "PSxx…(36 chars)", "PSxx…(36 chars)")


def test_short_secret_is_fully_masked() -> None:
    """A short secret shows only ***."""
    assert str(Secret("1234567801")) == "***"


def test_reveal_returns_the_value() -> None:
    """reveal() is the one way to the value."""
    assert Secret(VALUE).reveal() == VALUE


def test_secret_refuses_pickling() -> None:
    """A Secret cannot be pickled (so it cannot leak into a cache or a queue by accident)."""
    with pytest.raises(TypeError):
        pickle.dumps(Secret(VALUE))


def test_secret_inside_a_container_repr_is_masked() -> None:
    """A dict holding a Secret prints the mask."""
    assert VALUE not in repr({"key": Secret(VALUE)})


def test_mask_secrets_replaces_registered_values_in_text() -> None:
    """Any registered value inside free text is replaced by its mask."""
    Secret(VALUE)
    assert mask_secrets(f"token={VALUE}!") == "token=PSxx…(36 chars)!"


def test_filter_masks_message_args_extra_and_traceback() -> None:
    """The log filter masks the formatted message, extra fields and the exception text."""
    Secret(VALUE)
    record = logging.LogRecord("t", logging.ERROR, __file__, 1, "key %s", (VALUE,), None)
    record.detail = f"x{VALUE}"
    try:
        raise RuntimeError(VALUE)
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    SecretMaskingFilter().filter(record)
    text = logging.Formatter("%(message)s %(detail)s").format(record)
    assert (VALUE in text, "PSxx…(36 chars)" in text) == (False, True)
