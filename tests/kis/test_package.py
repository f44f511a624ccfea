"""observer.kis: export list and error tree."""

from __future__ import annotations

import importlib
import inspect

import pytest

import observer
import observer.kis
from observer.kis import _errors


def test_kis_all_lists_every_public_name() -> None:
    """Every public attribute of observer.kis is in __all__ and every __all__ name exists."""
    module = importlib.import_module("observer.kis")
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and name != "annotations" and not inspect.ismodule(value)
    }
    assert sorted(public) == sorted(module.__all__)


LAYER = {
    "KisConfigError": observer.ConfigError,
    "KisAuthRejected": observer.AuthError,
    "KisTokenThrottled": observer.AuthError,
    "KisApiError": observer.ProtocolError,
    "KisRateLimited": observer.ProtocolError,
    "KisTokenInvalid": observer.ProtocolError,
    "KisResponseError": observer.ProtocolError,
    "KisWsError": observer.ProtocolError,
    "KisWsAckError": observer.ProtocolError,
    "KisSessionInUse": observer.ProtocolError,
    "KisSubscriptionLimit": observer.ProtocolError,
    "KisFrameError": observer.ProtocolError,
    "KisTransportError": observer.TransportError,
    "KisTimeout": observer.TransportError,
    "KisServerError": observer.TransportError,
    "KisConversionError": observer.ConversionError,
}


@pytest.mark.parametrize("name", sorted(LAYER))
def test_every_kis_error_hangs_on_its_layer_and_on_kis_error(name: str) -> None:
    """Each leaf is a KisError and a subclass of its observer layer base."""
    cls = getattr(_errors, name)
    expected = (True, True)
    assert expected == (issubclass(cls, _errors.KisError), issubclass(cls, LAYER[name]))


def test_every_error_class_is_classified() -> None:
    """No KIS error class is missing from the layer table above."""
    defined = {
        name
        for name, value in vars(_errors).items()
        if inspect.isclass(value)
        and issubclass(value, _errors.KisError)
        and value is not _errors.KisError
    }
    assert sorted(LAYER) == sorted(defined)
