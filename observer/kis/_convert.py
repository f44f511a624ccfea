"""Pure converters: KIS REST outputs and WebSocket records → ``ObservationSnapshot``.

Every KIS value arrives as a string (reference §3.2, §6.4). The rules, applied explicitly:

- ``""`` (and a missing key) → ``None``; anything that is not a string is a conversion error.
- Integers are base-10 with an optional sign; prices must not be negative. A value with more
  digits than any KIS quantity can have is ``out_of_range`` (it is never handed to ``int()``,
  which refuses strings over 4,300 digits with a ``ValueError``), and so is an integer
  outside int64, where every KIS quantity fits and where Parquet/Arrow readers hold them.
- A price KIS sends as ``0`` is one that does not exist: open, high and low before the day's
  first trade (all day for a halted stock), a limit, a previous close, a best bid/ask or a VI
  reference price of ``0`` → ``None``, never a zero price that Validation would reject as
  ``non_positive_price``. Only the last price keeps its ``0`` (the REST quote is then
  rejected; a WebSocket trade without a price is ``missing_price``).
- Changes are signed by their sign code (1 upper limit, 2 up, 3 flat, 4 lower limit, 5 down):
  KIS sends ``prdy_vrss`` signed on live frames, but we trust the sign code and take the
  magnitude, so an unsigned value on a down day still comes out negative.
- Orderbook depth is levels 1..n up to the first empty level (``0`` or ``""``); asks must rise
  and bids fall with the level (reference §5.2), else the record is ``depth_out_of_order``
  (rejected here, so the scalp fold keeps the symbol's last good orderbook).
- ``HHMMSS`` times carry no date: they are combined with the trading day (or ``BSOP_DATE`` when
  the record has it) in KST. REST price outputs carry no time at all: their exchange time is the
  receive time (or ``SnapshotContext.exchange_time`` when the caller knows better).

A bad value raises ``KisConversionError(reason, path)`` — the caller counts it as a parse
rejection — never another exception. ``ScalpBook`` folds WebSocket records into the latest
trade and orderbook per symbol; ``merge_trade_and_book`` turns one pair into one scalp snapshot.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypeVar

import msgspec

from pipeline import KST, Environment, Lineage, Market, Mode, ObservationSnapshot, Source

from ._errors import KisConversionError
from ._frames import DataFrame
from ._rest import INQUIRE_PRICE, MULTI_PRICE, ORDERBOOK, RestResult

__all__ = [
    "ConversionOutcome",
    "ScalpBook",
    "SnapshotContext",
    "convert_rest_result",
    "merge_trade_and_book",
    "snapshot_from_inquire_price",
    "snapshot_from_multi_price_row",
    "snapshot_from_orderbook",
    "snapshot_from_orderbook_record",
    "snapshot_from_trade_record",
]

_DOWN: Final = frozenset({"4", "5"})
_UP: Final = frozenset({"1", "2"})
_SIGNS: Final = frozenset({"1", "2", "3", "4", "5"})
_DEPTH: Final = 10
# Significant digits a KIS number may have: prices, volumes and turnover fit in 19 digits.
# A plain string shorter than this converts without further checks.
_MAX_DIGITS: Final = 19
_INT64: Final = 2**63  # an integer field is admitted only when |n| < 2**63
_N = TypeVar("_N", int, float)
# A KIS decimal: an optional sign, ASCII digits, an optional fraction. Not what float() also
# takes: underscores ("1_0"), exponents, "inf"/"nan", non-ASCII digits, inner spaces.
_DECIMAL: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


class SnapshotContext(msgspec.Struct, frozen=True, kw_only=True):
    """What a converter needs besides the payload: who observed it, when, in which cycle."""

    mode: Mode
    environment: Environment
    trading_day: dt.date
    receive_time: dt.datetime  # local receive time, UTC
    cycle_id: str = ""
    seq: int = 0
    raw_seqs: tuple[int, ...] = ()
    raw_mode: Mode | None = None  # mode of the raw journal partition; defaults to ``mode``
    exchange_time: dt.datetime | None = None  # for payloads without a time (REST prices)


class ConversionOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """Snapshots converted from one response/frame, and the rejected records with their errors."""

    snapshots: tuple[ObservationSnapshot, ...] = ()
    rejections: tuple[KisConversionError, ...] = ()


# ------------------------------------------------------------------ value parsers
# Paths are built only when a value is rejected: (prefix, field) → "prefix.field".


def _reject(reason: str, prefix: str, field: str, detail: str = "") -> KisConversionError:
    return KisConversionError(reason, f"{prefix}.{field}" if field else prefix, detail)


def _text(value: Any, prefix: str, field: str) -> str | None:
    if value is None:
        return None
    if type(value) is not str:
        raise _reject("not_a_string", prefix, field, f"got {type(value).__name__}")
    if value and not value[0].isspace() and not value[-1].isspace():
        return value
    value = value.strip()
    return value or None


def _int(value: Any, prefix: str, field: str) -> int | None:
    if (
        type(value) is str and len(value) < _MAX_DIGITS and value.isdigit() and value.isascii()
    ):  # the common case
        return int(value)
    text = _text(value, prefix, field)
    if text is None:
        return None
    digits = text[1:] if text[0] in "+-" else text
    if not digits.isdigit() or not digits.isascii():
        raise _reject("not_an_integer", prefix, field, repr(text[:20]))
    if len(digits) > _MAX_DIGITS and len(digits.lstrip("0")) > _MAX_DIGITS:
        raise _reject("out_of_range", prefix, field, f"{len(digits)} digits")
    number = int(text)
    if not -_INT64 < number < _INT64:
        raise _reject("out_of_range", prefix, field, "beyond int64")
    return number


def _price(value: Any, prefix: str, field: str) -> int | None:
    if (
        type(value) is str and len(value) < _MAX_DIGITS and value.isdigit() and value.isascii()
    ):  # the common case
        return int(value)
    number = _int(value, prefix, field)
    if number is not None and number < 0:
        raise _reject("negative_price", prefix, field, str(number))
    return number


def _present_price(value: Any, prefix: str, field: str) -> int | None:
    """A price where KIS's ``0`` means "none" (see the module docstring): ``None`` then."""
    return _price(value, prefix, field) or None


def _float(value: Any, prefix: str, field: str) -> float | None:
    text = _text(value, prefix, field)
    if text is None:
        return None
    if _DECIMAL.fullmatch(text) is None:
        raise _reject("not_a_number", prefix, field, repr(text[:20]))
    number = float(text)
    if not math.isfinite(number):  # more digits than a float holds
        raise _reject("not_a_number", prefix, field, repr(text[:20]))
    return number


def _prev_close(last: int | None, change: int | None, prefix: str, field: str) -> int | None:
    """The previous close as price − change, when the payload does not state it."""
    if last is None or change is None:
        return None
    prev_close = last - change
    if not -_INT64 < prev_close < _INT64:
        raise _reject("out_of_range", prefix, field, "price - change beyond int64")
    return prev_close


def _sign(value: Any, prefix: str, field: str) -> str | None:
    text = _text(value, prefix, field)
    if text is not None and text not in _SIGNS:
        raise _reject("bad_sign_code", prefix, field, repr(text[:5]))
    return text


def _signed(number: _N | None, sign: str | None) -> _N | None:
    if number is None or sign is None:
        return number
    if sign in _DOWN:
        return -abs(number)
    if sign in _UP:
        return abs(number)
    return number


def _yn(value: Any, prefix: str, field: str) -> bool | None:
    text = _text(value, prefix, field)
    if text is None:
        return None
    if text in ("Y", "N"):
        return text == "Y"
    raise _reject("bad_flag", prefix, field, repr(text[:5]))


def _vi_active(value: Any, prefix: str, field: str) -> bool | None:
    """``vi_cls_code``: N (or 0) none, anything else a VI kind in force."""
    text = _text(value, prefix, field)
    if text is None:
        return None
    return text not in ("N", "0")


def _date(value: Any, prefix: str, field: str) -> dt.date | None:
    text = _text(value, prefix, field)
    if text is None:
        return None
    if len(text) != 8 or not text.isdigit() or not text.isascii():
        raise _reject("bad_date", prefix, field, repr(text[:10]))
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise _reject("bad_date", prefix, field, repr(text)) from None


def _time_on(day: dt.date, value: Any, prefix: str, field: str) -> dt.datetime | None:
    text = _text(value, prefix, field)
    if text is None:
        return None
    if len(text) != 6 or not text.isdigit() or not text.isascii():
        raise _reject("bad_time", prefix, field, repr(text[:10]))
    try:
        return dt.datetime(
            day.year, day.month, day.day, int(text[:2]), int(text[2:4]), int(text[4:]), tzinfo=KST
        )
    except ValueError:
        raise _reject("bad_time", prefix, field, repr(text)) from None


def _market(value: Any, prefix: str, field: str) -> Market:
    text = (_text(value, prefix, field) or "").upper()
    if "KOSDAQ" in text or "KSQ" in text or "코스닥" in text:
        return Market.KOSDAQ
    if "KONEX" in text or "코넥스" in text:
        return Market.KONEX
    if "KOSPI" in text or "KSP" in text or "코스피" in text or "유가" in text:
        return Market.KOSPI
    return Market.UNKNOWN


def _symbol(value: Any, prefix: str, field: str, expected: str | None) -> str:
    text = _text(value, prefix, field)
    if text is None:
        if expected is None:
            raise _reject("missing_symbol", prefix, field)
        return expected
    if expected is not None and text != expected:
        raise _reject("symbol_mismatch", prefix, field, f"asked {expected}, got {text}")
    return text


def _depth_levels(
    prices: Sequence[Any],
    sizes: Sequence[Any],
    prefix: str,
    price_key: str,
    size_key: str,
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Levels 1..n while the price is present and positive (an empty level is ``0`` or ``""``)."""
    # the common case, as one check: every value a plain unsigned ASCII integer (the result
    # is then what ``_depth_levels_general`` gives; a property test compares the two)
    try:
        plain = (
            len(prices) == len(sizes)
            and "" not in prices
            and "" not in sizes
            and (joined := "".join(prices) + "".join(sizes)).isdigit()
            and joined.isascii()
            and max(map(len, prices), default=0) < _MAX_DIGITS
            and max(map(len, sizes), default=0) < _MAX_DIGITS
        )
    except TypeError:  # a value that is not a string: the loop names it
        plain = False
    if plain:
        levels = list(map(int, prices))
        n = levels.index(0) if 0 in levels else len(levels)
        return tuple(levels[:n]), tuple(map(int, sizes[:n]))
    return _depth_levels_general(prices, sizes, prefix, price_key, size_key)


def _depth_levels_general(
    prices: Sequence[Any],
    sizes: Sequence[Any],
    prefix: str,
    price_key: str,
    size_key: str,
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``_depth_levels`` level by level: says which value is bad."""
    out_prices: list[int] = []
    out_sizes: list[int] = []
    for level, (raw_price, raw_size) in enumerate(zip(prices, sizes, strict=True), start=1):
        price = _price(raw_price, prefix, f"{price_key}{level}")
        if not price:
            break
        size = _int(raw_size, prefix, f"{size_key}{level}")
        out_prices.append(price)
        out_sizes.append(size if size is not None else 0)
    return tuple(out_prices), tuple(out_sizes)


def _check_order(prices: tuple[int, ...], *, rising: bool, prefix: str, price_key: str) -> None:
    """Asks rise with the level, bids fall (reference §5.2); equal prices are out of order."""
    for level in range(1, len(prices)):
        before, price = prices[level - 1], prices[level]
        if (price <= before) if rising else (price >= before):
            raise _reject(
                "depth_out_of_order",
                prefix,
                f"{price_key}{level + 1}",
                f"{price} after {before} at level {level}",
            )


def _depth(
    get: Callable[[str], Any], price_key: str, size_key: str, prefix: str
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    levels = range(1, _DEPTH + 1)
    return _depth_levels(
        [get(f"{price_key}{n}") for n in levels],
        [get(f"{size_key}{n}") for n in levels],
        prefix,
        price_key,
        size_key,
    )


def _lineage(ctx: SnapshotContext, source: Source, record_index: int) -> Lineage:
    return Lineage(
        raw_mode=ctx.raw_mode or ctx.mode,
        raw_source=source,
        raw_seqs=ctx.raw_seqs,
        record_index=record_index,
    )


def _rest_exchange_time(ctx: SnapshotContext) -> dt.datetime:
    return ctx.exchange_time or ctx.receive_time.astimezone(KST)


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise KisConversionError("not_an_object", path, type(value).__name__)
    return value


# ------------------------------------------------------------------ REST


def snapshot_from_inquire_price(
    output: Mapping[str, Any], ctx: SnapshotContext, *, symbol: str, record_index: int = 0
) -> ObservationSnapshot:
    """``inquire-price`` (FHKST01010100) ``output`` object → snapshot."""
    p = "$.output"
    g = output.get
    last = _price(g("stck_prpr"), p, "stck_prpr")
    sign = _sign(g("prdy_vrss_sign"), p, "prdy_vrss_sign")
    change = _signed(_int(g("prdy_vrss"), p, "prdy_vrss"), sign)
    prev_close = _present_price(g("stck_prdy_clpr"), p, "stck_prdy_clpr")
    if prev_close is None:
        prev_close = _prev_close(last, change, p, "prdy_vrss")
    return ObservationSnapshot(
        seq=ctx.seq,
        symbol=_symbol(g("stck_shrn_iscd"), p, "stck_shrn_iscd", symbol),
        market=_market(g("rprs_mrkt_kor_name"), p, "rprs_mrkt_kor_name"),
        mode=ctx.mode,
        source=Source.KIS_REST,
        environment=ctx.environment,
        trading_day=ctx.trading_day,
        exchange_time=_rest_exchange_time(ctx),
        receive_time=ctx.receive_time,
        cycle_id=ctx.cycle_id,
        last=last,
        open=_present_price(g("stck_oprc"), p, "stck_oprc"),
        high=_present_price(g("stck_hgpr"), p, "stck_hgpr"),
        low=_present_price(g("stck_lwpr"), p, "stck_lwpr"),
        prev_close=prev_close,
        upper_limit=_present_price(g("stck_mxpr"), p, "stck_mxpr"),
        lower_limit=_present_price(g("stck_llam"), p, "stck_llam"),
        change=change,
        change_rate_pct=_signed(_float(g("prdy_ctrt"), p, "prdy_ctrt"), sign),
        volume=_int(g("acml_vol"), p, "acml_vol"),
        turnover=_int(g("acml_tr_pbmn"), p, "acml_tr_pbmn"),
        vi_active=_vi_active(g("vi_cls_code"), p, "vi_cls_code"),
        halted=_yn(g("temp_stop_yn"), p, "temp_stop_yn"),
        hour_cls_code=_text(g("new_mkop_cls_code"), p, "new_mkop_cls_code"),
        status_code=_text(g("iscd_stat_cls_code"), p, "iscd_stat_cls_code"),
        lineage=_lineage(ctx, Source.KIS_REST, record_index),
    )


def snapshot_from_multi_price_row(
    row: Mapping[str, Any], ctx: SnapshotContext, *, record_index: int, symbol: str | None = None
) -> ObservationSnapshot:
    """One ``intstock-multprice`` (FHKST11300006) ``output`` row → snapshot."""
    p = f"$.output[{record_index}]"
    g = row.get
    sign = _sign(g("prdy_vrss_sign"), p, "prdy_vrss_sign")
    last = _price(g("inter2_prpr"), p, "inter2_prpr")
    change = _signed(_int(g("inter2_prdy_vrss"), p, "inter2_prdy_vrss"), sign)
    prev_close = _present_price(g("inter2_prdy_clpr"), p, "inter2_prdy_clpr")
    if prev_close is None:
        prev_close = _prev_close(last, change, p, "inter2_prdy_vrss")
    ask = _price(g("inter2_askp"), p, "inter2_askp")
    bid = _price(g("inter2_bidp"), p, "inter2_bidp")
    return ObservationSnapshot(
        seq=ctx.seq,
        symbol=_symbol(g("inter_shrn_iscd"), p, "inter_shrn_iscd", symbol),
        market=_market(g("kospi_kosdaq_cls_name"), p, "kospi_kosdaq_cls_name"),
        mode=ctx.mode,
        source=Source.KIS_REST,
        environment=ctx.environment,
        trading_day=ctx.trading_day,
        exchange_time=_rest_exchange_time(ctx),
        receive_time=ctx.receive_time,
        cycle_id=ctx.cycle_id,
        last=last,
        open=_present_price(g("inter2_oprc"), p, "inter2_oprc"),
        high=_present_price(g("inter2_hgpr"), p, "inter2_hgpr"),
        low=_present_price(g("inter2_lwpr"), p, "inter2_lwpr"),
        prev_close=prev_close,
        upper_limit=_present_price(g("inter2_mxpr"), p, "inter2_mxpr"),
        lower_limit=_present_price(g("inter2_llam"), p, "inter2_llam"),
        change=change,
        change_rate_pct=_signed(_float(g("prdy_ctrt"), p, "prdy_ctrt"), sign),
        volume=_int(g("acml_vol"), p, "acml_vol"),
        turnover=_int(g("acml_tr_pbmn"), p, "acml_tr_pbmn"),
        ask=ask or None,
        bid=bid or None,
        ask_size=_int(g("seln_rsqn"), p, "seln_rsqn") if ask else None,
        bid_size=_int(g("shnu_rsqn"), p, "shnu_rsqn") if bid else None,
        hour_cls_code=_text(g("hour_cls_code"), p, "hour_cls_code"),
        lineage=_lineage(ctx, Source.KIS_REST, record_index),
    )


def snapshot_from_orderbook(
    output1: Mapping[str, Any],
    output2: Mapping[str, Any] | None,
    ctx: SnapshotContext,
    *,
    symbol: str,
    record_index: int = 0,
) -> ObservationSnapshot:
    """``inquire-asking-price-exp-ccn`` (FHKST01010200) ``output1`` (+ ``output2``) → snapshot."""
    p1, p2 = "$.output1", "$.output2"
    g1 = output1.get
    g2 = output2.get if output2 is not None else (lambda _key: None)
    ask_prices, ask_sizes = _depth(g1, "askp", "askp_rsqn", p1)
    bid_prices, bid_sizes = _depth(g1, "bidp", "bidp_rsqn", p1)
    _check_order(ask_prices, rising=True, prefix=p1, price_key="askp")
    _check_order(bid_prices, rising=False, prefix=p1, price_key="bidp")
    exchange_time = _time_on(ctx.trading_day, g1("aspr_acpt_hour"), p1, "aspr_acpt_hour")
    return ObservationSnapshot(
        seq=ctx.seq,
        symbol=_symbol(g2("stck_shrn_iscd"), p2, "stck_shrn_iscd", symbol),
        mode=ctx.mode,
        source=Source.KIS_REST,
        environment=ctx.environment,
        trading_day=ctx.trading_day,
        exchange_time=exchange_time or _rest_exchange_time(ctx),
        receive_time=ctx.receive_time,
        cycle_id=ctx.cycle_id,
        last=_price(g2("stck_prpr"), p2, "stck_prpr"),
        open=_present_price(g2("stck_oprc"), p2, "stck_oprc"),
        high=_present_price(g2("stck_hgpr"), p2, "stck_hgpr"),
        low=_present_price(g2("stck_lwpr"), p2, "stck_lwpr"),
        ask=ask_prices[0] if ask_prices else None,
        bid=bid_prices[0] if bid_prices else None,
        ask_size=ask_sizes[0] if ask_sizes else None,
        bid_size=bid_sizes[0] if bid_sizes else None,
        ask_prices=ask_prices,
        ask_sizes=ask_sizes,
        bid_prices=bid_prices,
        bid_sizes=bid_sizes,
        vi_active=_vi_active(g2("vi_cls_code"), p2, "vi_cls_code"),
        hour_cls_code=_text(g1("new_mkop_cls_code"), p1, "new_mkop_cls_code"),
        lineage=_lineage(ctx, Source.KIS_REST, record_index),
    )


def convert_rest_result(result: RestResult, ctx: SnapshotContext) -> ConversionOutcome:
    """Every snapshot in a quotation response; rows that fail are returned as rejections."""
    snapshots: list[ObservationSnapshot] = []
    rejections: list[KisConversionError] = []
    body = result.body
    try:
        if result.tr_id == INQUIRE_PRICE.tr_id:
            output = _mapping(body.get("output"), "$.output")
            snapshots.append(snapshot_from_inquire_price(output, ctx, symbol=result.symbols[0]))
        elif result.tr_id == ORDERBOOK.tr_id:
            output1 = _mapping(body.get("output1"), "$.output1")
            raw2 = body.get("output2")
            output2 = _mapping(raw2, "$.output2") if raw2 is not None else None
            snapshots.append(
                snapshot_from_orderbook(output1, output2, ctx, symbol=result.symbols[0])
            )
        elif result.tr_id == MULTI_PRICE.tr_id:
            rows = body.get("output")
            if not isinstance(rows, list):
                raise KisConversionError("not_a_list", "$.output", type(rows).__name__)
            for index, row in enumerate(rows):
                try:
                    snapshots.append(
                        snapshot_from_multi_price_row(
                            _mapping(row, f"$.output[{index}]"), ctx, record_index=index
                        )
                    )
                except KisConversionError as exc:
                    rejections.append(exc)
        else:
            raise KisConversionError("unsupported_tr_id", "$", result.tr_id)
    except KisConversionError as exc:
        rejections.append(exc)
    return ConversionOutcome(snapshots=tuple(snapshots), rejections=tuple(rejections))


# ------------------------------------------------------------------ WebSocket records


def _field(values: Sequence[str], index: int) -> str:
    return values[index] if index < len(values) else ""


def snapshot_from_trade_record(
    values: Sequence[str], ctx: SnapshotContext, *, record_index: int = 0
) -> ObservationSnapshot:
    """One H0STCNT0 record (46 fields, extra trailing fields ignored) → snapshot."""
    if len(values) < 46:
        raise KisConversionError(
            "short_record", f"H0STCNT0[{record_index}]", f"{len(values)} fields"
        )
    p = f"H0STCNT0[{record_index}]"
    v = values
    day = _date(v[33], p, "BSOP_DATE") or ctx.trading_day
    exchange_time = _time_on(day, v[1], p, "STCK_CNTG_HOUR")
    if exchange_time is None:
        raise _reject("missing_time", p, "STCK_CNTG_HOUR")
    sign = _sign(v[3], p, "PRDY_VRSS_SIGN")
    last = _price(v[2], p, "STCK_PRPR")
    if not last:  # a trade without a price would replace the symbol's last good trade
        raise _reject("missing_price", p, "STCK_PRPR", "" if last is None else "0")
    change = _signed(_int(v[4], p, "PRDY_VRSS"), sign)
    ask = _price(v[10], p, "ASKP1")
    bid = _price(v[11], p, "BIDP1")
    vi_ref = _price(v[45], p, "VI_STND_PRC")
    return ObservationSnapshot(
        seq=ctx.seq,
        symbol=_symbol(v[0], p, "MKSC_SHRN_ISCD", None),
        mode=ctx.mode,
        source=Source.KIS_WS,
        environment=ctx.environment,
        trading_day=ctx.trading_day,
        exchange_time=exchange_time,
        receive_time=ctx.receive_time,
        cycle_id=ctx.cycle_id,
        last=last,
        open=_present_price(v[7], p, "STCK_OPRC"),
        high=_present_price(v[8], p, "STCK_HGPR"),
        low=_present_price(v[9], p, "STCK_LWPR"),
        prev_close=_prev_close(last, change, p, "PRDY_VRSS"),
        change=change,
        change_rate_pct=_signed(_float(v[5], p, "PRDY_CTRT"), sign),
        volume=_int(v[13], p, "ACML_VOL"),
        turnover=_int(v[14], p, "ACML_TR_PBMN"),
        ask=ask or None,
        bid=bid or None,
        ask_size=_int(v[36], p, "ASKP_RSQN1") if ask else None,
        bid_size=_int(v[37], p, "BIDP_RSQN1") if bid else None,
        vi_ref_price=vi_ref or None,
        halted=_yn(v[35], p, "TRHT_YN"),
        hour_cls_code=_text(v[43], p, "HOUR_CLS_CODE"),
        lineage=_lineage(ctx, Source.KIS_WS, record_index),
    )


def snapshot_from_orderbook_record(
    values: Sequence[str], ctx: SnapshotContext, *, record_index: int = 0
) -> ObservationSnapshot:
    """One H0STASP0 record (59 fields, extra trailing fields ignored) → snapshot."""
    if len(values) < 59:
        raise KisConversionError(
            "short_record", f"H0STASP0[{record_index}]", f"{len(values)} fields"
        )
    p = f"H0STASP0[{record_index}]"
    v = values
    exchange_time = _time_on(ctx.trading_day, v[1], p, "BSOP_HOUR")
    if exchange_time is None:
        raise _reject("missing_time", p, "BSOP_HOUR")

    # ASKP1..10 at 3-12, BIDP1..10 at 13-22, ASKP_RSQN1..10 at 23-32, BIDP_RSQN1..10 at 33-42
    ask_prices, ask_sizes = _depth_levels(v[3:13], v[23:33], p, "ASKP", "ASKP_RSQN")
    bid_prices, bid_sizes = _depth_levels(v[13:23], v[33:43], p, "BIDP", "BIDP_RSQN")
    _check_order(ask_prices, rising=True, prefix=p, price_key="ASKP")
    _check_order(bid_prices, rising=False, prefix=p, price_key="BIDP")
    return ObservationSnapshot(
        seq=ctx.seq,
        symbol=_symbol(v[0], p, "MKSC_SHRN_ISCD", None),
        mode=ctx.mode,
        source=Source.KIS_WS,
        environment=ctx.environment,
        trading_day=ctx.trading_day,
        exchange_time=exchange_time,
        receive_time=ctx.receive_time,
        cycle_id=ctx.cycle_id,
        volume=_int(v[53], p, "ACML_VOL"),
        ask=ask_prices[0] if ask_prices else None,
        bid=bid_prices[0] if bid_prices else None,
        ask_size=ask_sizes[0] if ask_sizes else None,
        bid_size=bid_sizes[0] if bid_sizes else None,
        ask_prices=ask_prices,
        ask_sizes=ask_sizes,
        bid_prices=bid_prices,
        bid_sizes=bid_sizes,
        hour_cls_code=_text(v[2], p, "HOUR_CLS_CODE"),
        lineage=_lineage(ctx, Source.KIS_WS, record_index),
    )


# ------------------------------------------------------------------ scalp fold


class ScalpBook:
    """The latest trade and latest orderbook per symbol, folded from WebSocket data frames.

    Deterministic: the state depends only on the frames applied and their order. Each entry is
    the single-record snapshot of that record (lineage: the frame's raw seq and record index).
    """

    def __init__(self, *, environment: Environment, trading_day: dt.date) -> None:
        self.environment = environment
        self.trading_day = trading_day
        self.trades: dict[str, ObservationSnapshot] = {}
        self.books: dict[str, ObservationSnapshot] = {}

    def apply(
        self, frame: DataFrame, *, raw_seq: int, receive_time: dt.datetime
    ) -> tuple[KisConversionError, ...]:
        """Fold every record of ``frame``; returns the records that could not be converted."""
        if frame.tr_id == "H0STCNT0":
            convert, target = snapshot_from_trade_record, self.trades
        elif frame.tr_id == "H0STASP0":
            convert, target = snapshot_from_orderbook_record, self.books
        else:
            return ()
        ctx = SnapshotContext(
            mode=Mode.SCALP,
            environment=self.environment,
            trading_day=self.trading_day,
            receive_time=receive_time,
            raw_seqs=(raw_seq,),
        )
        rejections: list[KisConversionError] = []
        for index, values in enumerate(frame.records):
            try:
                snapshot = convert(values, ctx, record_index=index)
            except KisConversionError as exc:
                rejections.append(exc)
                continue
            target[snapshot.symbol] = snapshot
        return tuple(rejections)

    def symbols(self) -> tuple[str, ...]:
        return tuple(sorted(self.trades.keys() | self.books.keys()))

    def snapshot(self, symbol: str, *, cycle_id: str, seq: int = 0) -> ObservationSnapshot | None:
        """The merged scalp snapshot of ``symbol``, or None when nothing was received for it."""
        trade, book = self.trades.get(symbol), self.books.get(symbol)
        if trade is None and book is None:
            return None
        return merge_trade_and_book(trade, book, cycle_id=cycle_id, seq=seq)


def merge_trade_and_book(
    trade: ObservationSnapshot | None,
    book: ObservationSnapshot | None,
    *,
    cycle_id: str,
    seq: int = 0,
) -> ObservationSnapshot:
    """One scalp snapshot from the latest trade and orderbook of one symbol.

    Prices, change and volume come from the trade; best quote and depth from the orderbook
    (the trade's level-1 quote only when there is no orderbook). The exchange and receive times
    are the later of the two; lineage lists both raw seqs (trade first) and the trade's record.
    """
    parts = [s for s in (trade, book) if s is not None]
    if not parts:
        raise ValueError("merge_trade_and_book needs a trade or an orderbook")
    if len({s.symbol for s in parts}) != 1:
        raise ValueError(f"symbols differ: {', '.join(s.symbol for s in parts)}")
    base, quote = parts[0], parts[-1]  # trade first when present; the book quotes when present
    seqs: list[int] = []
    for part in parts:
        if part.lineage is not None:
            seqs.extend(s for s in part.lineage.raw_seqs if s not in seqs)
    newest = max(parts, key=lambda s: s.exchange_time)
    volume = next((s.volume for s in parts if s.volume is not None), None)
    return msgspec.structs.replace(
        base,
        seq=seq,
        mode=Mode.SCALP,
        cycle_id=cycle_id,
        exchange_time=newest.exchange_time,
        receive_time=max(s.receive_time for s in parts),
        volume=volume,
        bid=quote.bid,
        ask=quote.ask,
        bid_size=quote.bid_size,
        ask_size=quote.ask_size,
        bid_prices=quote.bid_prices,
        bid_sizes=quote.bid_sizes,
        ask_prices=quote.ask_prices,
        ask_sizes=quote.ask_sizes,
        hour_cls_code=newest.hour_cls_code,
        lineage=Lineage(
            raw_mode=Mode.SCALP,
            raw_source=Source.KIS_WS,
            raw_seqs=tuple(seqs),
            record_index=base.lineage.record_index if base.lineage is not None else 0,
        ),
    )
