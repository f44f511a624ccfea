"""WebSocket message parsing: recorded-style frames, multi-record frames, drift, and junk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from observer.kis import ControlMessage, DataFrame, KisFrameError, parse_message

DATA = Path(__file__).parent.parent / "data" / "kis"
FRAME_CASES = sorted(p.name.removesuffix(".frame.txt") for p in DATA.glob("*.frame.txt"))


def load(case: str) -> tuple[str, dict]:
    text = (DATA / f"{case}.frame.txt").read_text(encoding="utf-8")
    expected = json.loads((DATA / f"{case}.expected.json").read_text(encoding="utf-8"))
    return text, expected


@pytest.mark.parametrize("case", FRAME_CASES)
def test_recorded_frame_parses_to_the_expected_shape(case: str) -> None:
    """TR, count, width, extra fields and rejection reasons match the checked-in file."""
    text, expected = load(case)
    frame = parse_message(text)
    assert isinstance(frame, DataFrame)
    got = {
        "tr_id": frame.tr_id,
        "count": frame.count,
        "width": frame.width
        if frame.records
        else len(text.split("|", 3)[3].split("^")) // frame.count,
        "extra_fields": frame.extra_fields,
        "rejections": [r.reason for r in frame.rejections],
    }
    assert {k: expected[k] for k in got} == got


def test_multi_record_frame_yields_every_record() -> None:
    """A 003 frame yields three records, not only the first."""
    text, _ = load("h0stcnt0_three_records")
    frame = parse_message(text)
    assert isinstance(frame, DataFrame)
    assert frame.symbols == ("005930", "000660", "035720")


def test_added_fields_are_kept_at_the_end_of_each_record() -> None:
    """Values beyond the 46 known fields stay on their record, in order."""
    text, expected = load("h0stcnt0_added_fields")
    frame = parse_message(text)
    assert isinstance(frame, DataFrame)
    assert expected["record_tails"] == [list(r[46:]) for r in frame.records]


def test_pingpong_is_a_control_message() -> None:
    """The server's PINGPONG JSON parses as a control message flagged is_pingpong."""
    msg = parse_message('{"header":{"tr_id":"PINGPONG","datetime":"20230612093354"}}')
    assert (isinstance(msg, ControlMessage) and msg.is_pingpong, msg.tr_id) == (True, "PINGPONG")


def test_subscribe_ack_fields_are_read() -> None:
    """An OPSP0000 ack exposes tr_id, tr_key, rt_cd, msg_cd and msg1."""
    text = json.dumps(
        {
            "header": {"tr_id": "H0STCNT0", "tr_key": "005930", "encrypt": "N"},
            "body": {
                "rt_cd": "0",
                "msg_cd": "OPSP0000",
                "msg1": "SUBSCRIBE SUCCESS",
                "output": {"iv": "0123456789abcdef", "key": "k" * 32},
            },
        }
    )
    msg = parse_message(text)
    assert (
        ControlMessage(
            tr_id="H0STCNT0",
            tr_key="005930",
            rt_cd="0",
            msg_cd="OPSP0000",
            msg1="SUBSCRIBE SUCCESS",
            encrypt="N",
            has_output=True,
        )
        == msg
    )


def test_session_in_use_ack_with_null_tr_id_is_read() -> None:
    """OPSP8996 arrives with the literal tr_id '(null)' and is still parsed."""
    msg = parse_message(
        '{"header":{"tr_id":"(null)","tr_key":"","encrypt":"N"},'
        '"body":{"rt_cd":"9","msg_cd":"OPSP8996","msg1":"ALREADY IN USE appkey"}}'
    )
    assert (msg.tr_id, msg.msg_cd) == ("(null)", "OPSP8996")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0|H0STCNT0|001", "frame_fields"),
        ("0||001|a^b", "frame_tr_id"),
        ("0|H0STCNT0|abc|a^b", "frame_count"),
        ("0|H0STCNT0|000|a^b", "frame_count"),
        ("hello", "not_json"),
        ("[1,2]", "not_json"),
        ('{"body":{}}', "no_header"),
    ],
)
def test_malformed_message_raises_frame_error_with_reason(text: str, reason: str) -> None:
    """Junk raises KisFrameError carrying a reason code, never another exception."""
    with pytest.raises(KisFrameError) as info:
        parse_message(text)
    assert reason == info.value.reason


def test_uneven_frame_rejects_every_announced_record() -> None:
    """93 values announced as 2 records cannot be split: both records are counted as rejected."""
    frame = parse_message("0|H0STCNT0|002|" + "^".join(["1"] * 93))
    assert isinstance(frame, DataFrame)
    assert (
        [r.reason for r in frame.rejections],
        frame.records,
    ) == (["uneven_frame", "uneven_frame"], ())


def trade_record(code: str) -> list[str]:
    text, _ = load("h0stcnt0_one_record")
    values = text.strip().split("|", 3)[3].split("^")
    values[0] = code
    return values


@pytest.mark.parametrize(
    ("count", "carried"),
    [(1, 2), (1, 3), (2, 3), (2, 4)],
)
def test_count_smaller_than_the_records_carried_rejects_each_record(
    count: int, carried: int
) -> None:
    """Whole records beyond the count are not taken for added fields: every record carried is
    a count_mismatch rejection, none is read and none is silently dropped."""
    values = [v for i in range(carried) for v in trade_record(f"{i:06d}")]
    frame = parse_message(f"0|H0STCNT0|{count:03d}|" + "^".join(values))
    assert isinstance(frame, DataFrame)
    assert (["count_mismatch"] * carried, ()) == (
        [r.reason for r in frame.rejections],
        frame.records,
    )


def test_a_few_added_fields_on_two_records_still_parse() -> None:
    """Two records of 49 values (3 added fields) are still two records, not a mismatch."""
    values = [v for i in range(2) for v in [*trade_record(f"{i:06d}"), "x", "y", "z"]]
    frame = parse_message("0|H0STCNT0|002|" + "^".join(values))
    assert isinstance(frame, DataFrame)
    assert (("000000", "000001"), 3, ()) == (frame.symbols, frame.extra_fields, frame.rejections)


def test_encrypted_frame_is_rejected_not_crashed() -> None:
    """An encrypted frame (flag 1) without a key is a counted rejection per record."""
    frame = parse_message("1|H0STCNI0|001|c29tZWJhc2U2NA==")
    assert isinstance(frame, DataFrame)
    assert [r.reason for r in frame.rejections] == ["encrypted"]


def test_unknown_tr_is_split_by_values_over_count() -> None:
    """A TR with no known width is split evenly by the announced count."""
    frame = parse_message("0|H0ZZZZZ0|002|a^b^c^d^e^f")
    assert isinstance(frame, DataFrame)
    assert frame.records == (("a", "b", "c"), ("d", "e", "f"))


values = st.text(
    alphabet=st.characters(exclude_characters="^|", exclude_categories=("Cs",)), max_size=8
)


@given(st.lists(st.lists(values, min_size=46, max_size=46), min_size=1, max_size=8))
def test_any_packed_trade_frame_round_trips(records: list[list[str]]) -> None:
    """Packing N 46-field records into one frame and parsing gives back the same N records."""
    text = f"0|H0STCNT0|{len(records):03d}|" + "^".join(v for r in records for v in r)
    frame = parse_message(text)
    assert isinstance(frame, DataFrame)
    assert [tuple(r) for r in records] == list(frame.records)


@given(st.text(max_size=200))
def test_arbitrary_text_never_raises_anything_but_frame_error(text: str) -> None:
    """Whatever arrives, parse_message returns a message or raises KisFrameError."""
    try:
        result = parse_message(text)
    except KisFrameError:
        result = None
    assert result is None or isinstance(result, DataFrame | ControlMessage)


def test_absurd_record_count_is_a_frame_error() -> None:
    """A count beyond 9999 is refused instead of allocating a rejection per claimed record."""
    with pytest.raises(KisFrameError) as info:
        parse_message("0|H0STCNT0|99999999999|a")
    assert info.value.reason == "frame_count"


def test_record_count_too_long_for_int_is_a_frame_error() -> None:
    """A 5000-digit count is a frame_count error, not int()'s 4,300-digit ValueError."""
    with pytest.raises(KisFrameError) as info:
        parse_message("0|H0STCNT0|" + "9" * 5000 + "|a")
    assert info.value.reason == "frame_count"
