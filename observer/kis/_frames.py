"""KIS WebSocket message parsing (reference §6): data frames and control JSON.

A data frame is ``<enc>|<tr_id>|<count>|<payload>`` where the payload packs ``count`` records of
caret-separated values. The record width is *values ÷ count*, not the width we know: KIS adds
fields over time (python-kis issue #68), so wider records keep their extra trailing values and
map the known leading columns (``extra_fields`` says how many; the socket client counts them);
narrower records are counted rejections. A count smaller than the records carried is told apart
from added fields and rejected as ``count_mismatch``: a record at least twice the known width
(no TR has doubled its width) or values that split exactly into more known-width records than
announced. Such a frame is ambiguous, and reading it by its count would keep the first record
and silently drop the others. A message that is neither a data frame nor control JSON raises
``KisFrameError`` (the caller counts it; the raw journal already holds it verbatim).
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from ._errors import KisFrameError

__all__ = [
    "FIELD_COUNTS",
    "H0STASP0_FIELDS",
    "H0STCNT0_FIELDS",
    "ControlMessage",
    "DataFrame",
    "RecordRejection",
    "parse_message",
]

H0STCNT0_FIELDS: Final[tuple[str, ...]] = (
    "MKSC_SHRN_ISCD", "STCK_CNTG_HOUR", "STCK_PRPR", "PRDY_VRSS_SIGN", "PRDY_VRSS", "PRDY_CTRT",
    "WGHN_AVRG_STCK_PRC", "STCK_OPRC", "STCK_HGPR", "STCK_LWPR", "ASKP1", "BIDP1", "CNTG_VOL",
    "ACML_VOL", "ACML_TR_PBMN", "SELN_CNTG_CSNU", "SHNU_CNTG_CSNU", "NTBY_CNTG_CSNU", "CTTR",
    "SELN_CNTG_SMTN", "SHNU_CNTG_SMTN", "CCLD_DVSN", "SHNU_RATE", "PRDY_VOL_VRSS_ACML_VOL_RATE",
    "OPRC_HOUR", "OPRC_VRSS_PRPR_SIGN", "OPRC_VRSS_PRPR", "HGPR_HOUR", "HGPR_VRSS_PRPR_SIGN",
    "HGPR_VRSS_PRPR", "LWPR_HOUR", "LWPR_VRSS_PRPR_SIGN", "LWPR_VRSS_PRPR", "BSOP_DATE",
    "NEW_MKOP_CLS_CODE", "TRHT_YN", "ASKP_RSQN1", "BIDP_RSQN1", "TOTAL_ASKP_RSQN",
    "TOTAL_BIDP_RSQN", "VOL_TNRT", "PRDY_SMNS_HOUR_ACML_VOL", "PRDY_SMNS_HOUR_ACML_VOL_RATE",
    "HOUR_CLS_CODE", "MRKT_TRTM_CLS_CODE", "VI_STND_PRC",
)  # fmt: skip

H0STASP0_FIELDS: Final[tuple[str, ...]] = (
    "MKSC_SHRN_ISCD", "BSOP_HOUR", "HOUR_CLS_CODE",
    *(f"ASKP{n}" for n in range(1, 11)),
    *(f"BIDP{n}" for n in range(1, 11)),
    *(f"ASKP_RSQN{n}" for n in range(1, 11)),
    *(f"BIDP_RSQN{n}" for n in range(1, 11)),
    "TOTAL_ASKP_RSQN", "TOTAL_BIDP_RSQN", "OVTM_TOTAL_ASKP_RSQN", "OVTM_TOTAL_BIDP_RSQN",
    "ANTC_CNPR", "ANTC_CNQN", "ANTC_VOL", "ANTC_CNTG_VRSS", "ANTC_CNTG_VRSS_SIGN",
    "ANTC_CNTG_PRDY_CTRT", "ACML_VOL", "TOTAL_ASKP_RSQN_ICDC", "TOTAL_BIDP_RSQN_ICDC",
    "OVTM_TOTAL_ASKP_ICDC", "OVTM_TOTAL_BIDP_ICDC", "STCK_DEAL_CLS_CODE",
)  # fmt: skip

MAX_COUNT: Final = 9999  # the count is 3 digits on the wire; bound what one frame may claim

# Known record widths (reference §7); a TR not listed here is split by values ÷ count only.
FIELD_COUNTS: Final[dict[str, int]] = {
    "H0STCNT0": len(H0STCNT0_FIELDS),  # 46
    "H0STASP0": len(H0STASP0_FIELDS),  # 59
    "H0NXCNT0": 46,
    "H0UNCNT0": 46,
    "H0STANC0": 45,
    "H0UPCNT0": 30,
    "H0UPANC0": 30,
    "H0STMKO0": 11,
    "H0NXASP0": 65,
    "H0UNASP0": 65,
    "H0STCNI0": 26,
    "H0STCNI9": 26,
}


class RecordRejection(msgspec.Struct, frozen=True, kw_only=True):
    """A record of a data frame we could not accept, by reason code."""

    reason: str  # "short_record" | "uneven_frame" | "count_mismatch" | "encrypted"
    record_index: int
    detail: str = ""


class DataFrame(msgspec.Struct, frozen=True, kw_only=True):
    """A parsed data frame: ``records`` in frame order, each the full list of its values."""

    tr_id: str
    encrypted: bool
    count: int  # as announced in the frame
    width: int  # values per record actually received (0 when not determinable)
    records: tuple[tuple[str, ...], ...]
    rejections: tuple[RecordRejection, ...] = ()
    extra_fields: int = 0  # values per record beyond the known width (KIS added fields)

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(r[0] for r in self.records)


class ControlMessage(msgspec.Struct, frozen=True, kw_only=True):
    """A JSON control message: subscribe/unsubscribe ack, PINGPONG or an error notice."""

    tr_id: str
    tr_key: str = ""
    rt_cd: str = ""
    msg_cd: str = ""
    msg1: str = ""
    encrypt: str = ""
    has_output: bool = False

    @property
    def is_pingpong(self) -> bool:
        return self.tr_id == "PINGPONG"


_OBJECT: Final = msgspec.json.Decoder(dict[str, Any])


def parse_message(text: str) -> DataFrame | ControlMessage:
    """Dispatch on the first character: ``0``/``1`` data frame, otherwise control JSON."""
    if text[:1] in ("0", "1"):
        return _parse_data(text)
    return _parse_control(text)


def _parse_data(text: str) -> DataFrame:
    parts = text.split("|", 3)
    if len(parts) != 4:
        raise KisFrameError("frame_fields", f"expected 4 '|'-separated parts, got {len(parts)}")
    enc, tr_id, count_text, payload = parts
    if not tr_id:
        raise KisFrameError("frame_tr_id", "empty TR id")
    if (
        not (count_text.isdigit() and count_text.isascii())
        or len(count_text.lstrip("0")) > len(str(MAX_COUNT))  # int() refuses 4,300+ digits
        or not 1 <= int(count_text) <= MAX_COUNT
    ):
        raise KisFrameError(
            "frame_count", f"record count {count_text[:10]!r} is not a positive number"
        )
    count = int(count_text)
    if enc == "1":
        return _rejected(tr_id, count, 0, "encrypted", "no AES key for this TR", encrypted=True)
    if enc != "0":
        raise KisFrameError("frame_encryption_flag", f"flag {enc[:5]!r} is neither 0 nor 1")
    values = payload.split("^")
    known = FIELD_COUNTS.get(tr_id)
    total = len(values)
    if known is not None and total == count * known:  # the common case
        if count == 1:
            return DataFrame(
                tr_id=tr_id, encrypted=False, count=1, width=known, records=(tuple(values),)
            )
        return DataFrame(
            tr_id=tr_id,
            encrypted=False,
            count=count,
            width=known,
            records=tuple(tuple(values[i : i + known]) for i in range(0, total, known)),
        )
    width, remainder = divmod(total, count)
    if remainder:
        detail = f"{total} values do not split into {count} records"
        return _rejected(tr_id, count, 0, "uneven_frame", detail)
    if known is not None and width > known and (width >= 2 * known or total % known == 0):
        carried = total // known
        detail = f"{total} values hold {carried} records of {known}, count says {count}"
        return _rejected(tr_id, count, width, "count_mismatch", detail, max(count, carried))
    if known is not None and width < known:
        detail = f"{width} fields, {tr_id} has {known}"
        return _rejected(tr_id, count, width, "short_record", detail)
    return DataFrame(
        tr_id=tr_id,
        encrypted=False,
        count=count,
        width=width,
        records=tuple(tuple(values[i : i + width]) for i in range(0, total, width)),
        extra_fields=width - known if known is not None else 0,
    )


def _rejected(
    tr_id: str,
    count: int,
    width: int,
    reason: str,
    detail: str,
    records: int | None = None,
    *,
    encrypted: bool = False,
) -> DataFrame:
    """A frame none of whose records is read: one rejection, for one reason, per record
    (``records``, when the frame carries more than its count says)."""
    return DataFrame(
        tr_id=tr_id,
        encrypted=encrypted,
        count=count,
        width=width,
        records=(),
        rejections=tuple(
            RecordRejection(reason=reason, record_index=i, detail=detail)
            for i in range(count if records is None else records)
        ),
    )


def _parse_control(text: str) -> ControlMessage:
    try:
        data = _OBJECT.decode(text)
    except msgspec.DecodeError:
        raise KisFrameError("not_json", "neither a data frame nor a JSON object") from None
    header = data.get("header")
    if not isinstance(header, dict):
        raise KisFrameError("no_header", "control message without a header object")
    body = data.get("body")
    body = body if isinstance(body, dict) else {}
    return ControlMessage(
        tr_id=str(header.get("tr_id") or ""),
        tr_key=str(header.get("tr_key") or ""),
        encrypt=str(header.get("encrypt") or ""),
        rt_cd=str(body.get("rt_cd") or ""),
        msg_cd=str(body.get("msg_cd") or ""),
        msg1=str(body.get("msg1") or ""),
        has_output=isinstance(body.get("output"), dict),
    )
