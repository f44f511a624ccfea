"""The KIS (Korea Investment & Securities) Open API adapter.

Config, auth, REST, WebSocket, converters.

Read-only: only quotation endpoints exist here. Errors: see ``observer.kis._errors`` for the tree.
"""

from ._auth import AccessToken as AccessToken
from ._auth import KisAuth as KisAuth
from ._auth import TokenCache as TokenCache
from ._clock import Clock as Clock
from ._clock import ManualClock as ManualClock
from ._clock import SystemClock as SystemClock
from ._config import HOSTS as HOSTS
from ._config import MAX_WS_REGISTRATIONS as MAX_WS_REGISTRATIONS
from ._config import KisConfig as KisConfig
from ._config import KisFileConfig as KisFileConfig
from ._config import KisHosts as KisHosts
from ._config import RetryPolicy as RetryPolicy
from ._config import load_kis_config as load_kis_config
from ._convert import ConversionOutcome as ConversionOutcome
from ._convert import ScalpBook as ScalpBook
from ._convert import SnapshotContext as SnapshotContext
from ._convert import convert_rest_result as convert_rest_result
from ._convert import merge_trade_and_book as merge_trade_and_book
from ._convert import snapshot_from_inquire_price as snapshot_from_inquire_price
from ._convert import snapshot_from_multi_price_row as snapshot_from_multi_price_row
from ._convert import snapshot_from_orderbook as snapshot_from_orderbook
from ._convert import snapshot_from_orderbook_record as snapshot_from_orderbook_record
from ._convert import snapshot_from_trade_record as snapshot_from_trade_record
from ._errors import KisApiError as KisApiError
from ._errors import KisAuthRejected as KisAuthRejected
from ._errors import KisConfigError as KisConfigError
from ._errors import KisConversionError as KisConversionError
from ._errors import KisError as KisError
from ._errors import KisFrameError as KisFrameError
from ._errors import KisRateLimited as KisRateLimited
from ._errors import KisResponseError as KisResponseError
from ._errors import KisServerError as KisServerError
from ._errors import KisSessionInUse as KisSessionInUse
from ._errors import KisSubscriptionLimit as KisSubscriptionLimit
from ._errors import KisTimeout as KisTimeout
from ._errors import KisTokenInvalid as KisTokenInvalid
from ._errors import KisTokenThrottled as KisTokenThrottled
from ._errors import KisTransportError as KisTransportError
from ._errors import KisWsAckError as KisWsAckError
from ._errors import KisWsError as KisWsError
from ._frames import FIELD_COUNTS as FIELD_COUNTS
from ._frames import H0STASP0_FIELDS as H0STASP0_FIELDS
from ._frames import H0STCNT0_FIELDS as H0STCNT0_FIELDS
from ._frames import ControlMessage as ControlMessage
from ._frames import DataFrame as DataFrame
from ._frames import RecordRejection as RecordRejection
from ._frames import parse_message as parse_message
from ._ratelimit import RateLimiter as RateLimiter
from ._ratelimit import shared_limiter as shared_limiter
from ._rest import INDEX_PRICE as INDEX_PRICE
from ._rest import INQUIRE_PRICE as INQUIRE_PRICE
from ._rest import MULTI_PRICE as MULTI_PRICE
from ._rest import MULTI_PRICE_MAX_SYMBOLS as MULTI_PRICE_MAX_SYMBOLS
from ._rest import ORDERBOOK as ORDERBOOK
from ._rest import Endpoint as Endpoint
from ._rest import KisRestClient as KisRestClient
from ._rest import RestResult as RestResult
from ._rest import classify_response as classify_response
from ._secrets import Secret as Secret
from ._secrets import SecretMaskingFilter as SecretMaskingFilter
from ._secrets import install_secret_masking as install_secret_masking
from ._secrets import known_secret_values as known_secret_values
from ._secrets import mask_secrets as mask_secrets
from ._ws import ORDERBOOK_TR as ORDERBOOK_TR
from ._ws import TRADE_TR as TRADE_TR
from ._ws import KisWsClient as KisWsClient
from ._ws import ReceivedFrame as ReceivedFrame
from ._ws import Registration as Registration
from ._ws import WsBackoff as WsBackoff
from ._ws import WsEvent as WsEvent
from ._ws import WsEventKind as WsEventKind
from ._ws import WsStatus as WsStatus
from ._ws import registrations_for as registrations_for

__all__ = [
    "FIELD_COUNTS",
    "H0STASP0_FIELDS",
    "H0STCNT0_FIELDS",
    "HOSTS",
    "INDEX_PRICE",
    "INQUIRE_PRICE",
    "MAX_WS_REGISTRATIONS",
    "MULTI_PRICE",
    "MULTI_PRICE_MAX_SYMBOLS",
    "ORDERBOOK",
    "ORDERBOOK_TR",
    "TRADE_TR",
    "AccessToken",
    "Clock",
    "ControlMessage",
    "ConversionOutcome",
    "DataFrame",
    "Endpoint",
    "KisApiError",
    "KisAuth",
    "KisAuthRejected",
    "KisConfig",
    "KisConfigError",
    "KisConversionError",
    "KisError",
    "KisFileConfig",
    "KisFrameError",
    "KisHosts",
    "KisRateLimited",
    "KisResponseError",
    "KisRestClient",
    "KisServerError",
    "KisSessionInUse",
    "KisSubscriptionLimit",
    "KisTimeout",
    "KisTokenInvalid",
    "KisTokenThrottled",
    "KisTransportError",
    "KisWsAckError",
    "KisWsClient",
    "KisWsError",
    "ManualClock",
    "RateLimiter",
    "ReceivedFrame",
    "RecordRejection",
    "Registration",
    "RestResult",
    "RetryPolicy",
    "ScalpBook",
    "Secret",
    "SecretMaskingFilter",
    "SnapshotContext",
    "SystemClock",
    "TokenCache",
    "WsBackoff",
    "WsEvent",
    "WsEventKind",
    "WsStatus",
    "classify_response",
    "convert_rest_result",
    "install_secret_masking",
    "known_secret_values",
    "load_kis_config",
    "mask_secrets",
    "merge_trade_and_book",
    "parse_message",
    "registrations_for",
    "shared_limiter",
    "snapshot_from_inquire_price",
    "snapshot_from_multi_price_row",
    "snapshot_from_orderbook",
    "snapshot_from_orderbook_record",
    "snapshot_from_trade_record",
]
