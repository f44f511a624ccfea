"""KIS wire shapes built from the market model: REST ``output`` rows and WebSocket records.

Every value is a string, exactly as KIS sends it (reference §3.2): integers without
separators, signed changes (``-500``), rates with two decimals, times ``HHMMSS``.
"""

from __future__ import annotations

from typing import Final

from ._market import (
    OPEN_S,
    Book,
    IndexQuote,
    Quote,
    Trade,
    tick_of,
)

__all__ = [
    "ASP_FIELDS",
    "CNT_FIELDS",
    "asking_price_outputs",
    "asp_record",
    "cnt_record",
    "index_output",
    "multiprice_row",
    "price_output",
]

CNT_FIELDS: Final = 46
ASP_FIELDS: Final = 59


def _rate(num: int, den: int) -> str:
    if not den:
        return "0.00"
    out = f"{num * 100 / den:.2f}"
    return "0.00" if out == "-0.00" else out


def _sign(diff: int) -> str:
    return "2" if diff > 0 else ("5" if diff < 0 else "3")


def _yn(flag: bool) -> str:
    return "Y" if flag else "N"


def price_output(q: Quote) -> dict[str, str]:
    """``inquire-price`` (FHKST01010100) ``output`` object (reference §5.1). A halted symbol
    says so in ``temp_stop_yn`` (Y) and ``iscd_stat_cls_code`` (58 거래정지; else 55)."""
    s = q.symbol
    base = q.base
    cap = q.price * s.listed_shares // 100_000_000
    eps = max(1, base // 12)
    bps = base * 10 // 12
    return {
        "iscd_stat_cls_code": "58" if q.halted else "55",
        "marg_rate": "20.00",
        "rprs_mrkt_kor_name": "KOSPI200" if s.market == "KOSPI" and s.position < 200 else s.market,
        "new_hgpr_lwpr_cls_code": "",
        "bstp_kor_isnm": s.sector,
        "temp_stop_yn": _yn(q.halted),
        "oprc_rang_cont_yn": "N",
        "clpr_rang_cont_yn": "N",
        "crdt_able_yn": "Y",
        "grmn_rate_cls_code": "40",
        "elw_pblc_yn": "N",
        "stck_prpr": str(q.price),
        "prdy_vrss": str(q.change),
        "prdy_vrss_sign": q.sign,
        "prdy_ctrt": q.change_rate,
        "acml_tr_pbmn": str(q.acml_tr_pbmn),
        "acml_vol": str(q.acml_vol),
        "prdy_vrss_vol_rate": _rate(q.acml_vol, q.prev_volume),
        "stck_oprc": str(q.open),
        "stck_hgpr": str(q.high),
        "stck_lwpr": str(q.low),
        "stck_mxpr": str(q.upper),
        "stck_llam": str(q.lower),
        "stck_sdpr": str(base),
        "wghn_avrg_stck_prc": q.vwap,
        "hts_frgn_ehrt": f"{(s.position * 7 % 5000) / 100:.2f}",
        "frgn_ntby_qty": "0",
        "pgtr_ntby_qty": "0",
        "pvt_scnd_dmrs_prc": str(base),
        "pvt_frst_dmrs_prc": str(base),
        "pvt_pont_val": str(base),
        "pvt_frst_dmsp_prc": str(base),
        "pvt_scnd_dmsp_prc": str(base),
        "dmrs_val": str(base),
        "dmsp_val": str(base),
        "cpfn": str(s.listed_shares * 500 // 100_000_000),
        "rstc_wdth_prc": str(q.upper - base),
        "stck_fcam": "500",
        "stck_sspr": str(
            q.price * 7 // 10 - q.price * 7 // 10 % tick_of(max(1, q.price * 7 // 10))
        ),
        "aspr_unit": str(tick_of(q.price)),
        "hts_deal_qty_unit_val": "1",
        "lstn_stcn": str(s.listed_shares),
        "hts_avls": str(cap),
        "per": f"{q.price / eps:.2f}",
        "pbr": f"{q.price / max(1, bps):.2f}",
        "stac_month": "12",
        "vol_tnrt": _rate(q.acml_vol, s.listed_shares),
        "eps": f"{eps:.2f}",
        "bps": f"{bps:.2f}",
        "d250_hgpr": str(q.upper),
        "d250_hgpr_date": "20260105",
        "d250_hgpr_vrss_prpr_rate": _rate(q.price - q.upper, q.upper),
        "d250_lwpr": str(q.lower),
        "d250_lwpr_date": "20260302",
        "d250_lwpr_vrss_prpr_rate": _rate(q.price - q.lower, q.lower),
        "stck_dryy_hgpr": str(q.upper),
        "dryy_hgpr_vrss_prpr_rate": _rate(q.price - q.upper, q.upper),
        "dryy_hgpr_date": "20260105",
        "stck_dryy_lwpr": str(q.lower),
        "dryy_lwpr_vrss_prpr_rate": _rate(q.price - q.lower, q.lower),
        "dryy_lwpr_date": "20260302",
        "w52_hgpr": str(q.upper),
        "w52_hgpr_vrss_prpr_ctrt": _rate(q.price - q.upper, q.upper),
        "w52_hgpr_date": "20260105",
        "w52_lwpr": str(q.lower),
        "w52_lwpr_vrss_prpr_ctrt": _rate(q.price - q.lower, q.lower),
        "w52_lwpr_date": "20260302",
        "whol_loan_rmnd_rate": "0.10",
        "ssts_yn": "Y",
        "stck_shrn_iscd": s.code,
        "fcam_cnnm": "500",
        "cpfn_cnnm": f"{s.listed_shares * 500 // 100_000_000} 억",
        "frgn_hldn_qty": str(s.listed_shares * (s.position * 7 % 5000) // 10_000),
        "vi_cls_code": _yn(q.vi_active),
        "ovtm_vi_cls_code": "N",
        "last_ssts_cntg_qty": "0",
        "invt_caful_yn": "N",
        "mrkt_warn_cls_code": "00",
        "short_over_yn": "N",
        "sltr_yn": "N",
        "mang_issu_cls_code": "N",
    }


def multiprice_row(q: Quote, book: Book) -> dict[str, str]:
    """One ``intstock-multprice`` (FHKST11300006) ``output`` row (reference §5.3)."""
    s = q.symbol
    call = book.antc_price > 0
    antc_diff = book.antc_price - q.base if call else 0
    return {
        "kospi_kosdaq_cls_name": s.market,
        "mrkt_trtm_cls_name": "",
        "hour_cls_code": q.phase.hour_cls_code,
        "inter_shrn_iscd": s.code,
        "inter_kor_isnm": s.name,
        "inter2_prpr": str(q.price),
        "inter2_prdy_vrss": str(q.change),
        "prdy_vrss_sign": q.sign,
        "prdy_ctrt": q.change_rate,
        "acml_vol": str(q.acml_vol),
        "inter2_oprc": str(q.open),
        "inter2_hgpr": str(q.high),
        "inter2_lwpr": str(q.low),
        "inter2_llam": str(q.lower),
        "inter2_mxpr": str(q.upper),
        "inter2_askp": str(book.asks[0]),
        "inter2_bidp": str(book.bids[0]),
        "seln_rsqn": str(book.ask_qty[0]),
        "shnu_rsqn": str(book.bid_qty[0]),
        "total_askp_rsqn": str(sum(book.ask_qty)),
        "total_bidp_rsqn": str(sum(book.bid_qty)),
        "acml_tr_pbmn": str(q.acml_tr_pbmn),
        "inter2_prdy_clpr": str(q.base),
        "oprc_vrss_hgpr_rate": _rate(q.high - q.open, q.open) if q.open else "0.00",
        "intr_antc_cntg_vrss": str(antc_diff),
        "intr_antc_cntg_vrss_sign": _sign(antc_diff) if call else "3",
        "intr_antc_cntg_prdy_ctrt": _rate(antc_diff, q.base) if call else "0.00",
        "intr_antc_vol": str(book.antc_vol),
        "inter2_sdpr": str(q.base),
    }


def asking_price_outputs(q: Quote, book: Book, prev: Book) -> tuple[dict[str, str], dict[str, str]]:
    """``inquire-asking-price-exp-ccn`` (FHKST01010200) ``output1``, ``output2`` (§5.2)."""
    o1: dict[str, str] = {"aspr_acpt_hour": q.hours.hhmmss(max(book.second, 0))}
    for i in range(10):
        o1[f"askp{i + 1}"] = str(book.asks[i])
    for i in range(10):
        o1[f"bidp{i + 1}"] = str(book.bids[i])
    for i in range(10):
        o1[f"askp_rsqn{i + 1}"] = str(book.ask_qty[i])
    for i in range(10):
        o1[f"bidp_rsqn{i + 1}"] = str(book.bid_qty[i])
    for i in range(10):
        o1[f"askp_rsqn_icdc{i + 1}"] = str(book.ask_qty[i] - prev.ask_qty[i])
    for i in range(10):
        o1[f"bidp_rsqn_icdc{i + 1}"] = str(book.bid_qty[i] - prev.bid_qty[i])
    total_ask, total_bid = sum(book.ask_qty), sum(book.bid_qty)
    o1.update(
        {
            "total_askp_rsqn": str(total_ask),
            "total_bidp_rsqn": str(total_bid),
            "total_askp_rsqn_icdc": str(total_ask - sum(prev.ask_qty)),
            "total_bidp_rsqn_icdc": str(total_bid - sum(prev.bid_qty)),
            "ovtm_total_askp_icdc": "0",
            "ovtm_total_bidp_icdc": "0",
            "ovtm_total_askp_rsqn": "0",
            "ovtm_total_bidp_rsqn": "0",
            "ntby_aspr_rsqn": str(total_bid - total_ask),
            "new_mkop_cls_code": q.phase.new_mkop_cls_code,
        }
    )
    call = book.antc_price > 0
    antc_diff = book.antc_price - q.base if call else 0
    o2 = {
        "antc_mkop_cls_code": q.phase.antc_mkop_cls_code,
        "stck_prpr": str(q.price),
        "stck_oprc": str(q.open),
        "stck_hgpr": str(q.high),
        "stck_lwpr": str(q.low),
        "stck_sdpr": str(q.base),
        "antc_cnpr": str(book.antc_price),
        "antc_cntg_vrss_sign": _sign(antc_diff) if call else "3",
        "antc_cntg_vrss": str(antc_diff),
        "antc_cntg_prdy_ctrt": _rate(antc_diff, q.base) if call else "0.00",
        "antc_vol": str(book.antc_vol),
        "stck_shrn_iscd": q.symbol.code,
        "vi_cls_code": _yn(q.vi_active),
    }
    return o1, o2


def index_output(iq: IndexQuote) -> dict[str, str]:
    """``inquire-index-price`` (FHPUP02100000) ``output`` (reference §5.4)."""

    def x100(v: int) -> str:
        sign = "-" if v < 0 else ""
        v = abs(v)
        return f"{sign}{v // 100}.{v % 100:02d}"

    diff = iq.value_x100 - iq.prev_x100
    sign = _sign(diff)
    return {
        "bstp_nmix_prpr": x100(iq.value_x100),
        "bstp_nmix_prdy_vrss": x100(diff),
        "prdy_vrss_sign": sign,
        "bstp_nmix_prdy_ctrt": _rate(diff, iq.prev_x100),
        "acml_vol": str(iq.acml_vol),
        "prdy_vol": str(iq.prev_vol),
        "acml_tr_pbmn": str(iq.acml_tr_pbmn),
        "prdy_tr_pbmn": str(iq.prev_vol * 23_000),
        "bstp_nmix_oprc": x100(iq.open_x100),
        "prdy_nmix_vrss_nmix_oprc": x100(iq.open_x100 - iq.prev_x100),
        "oprc_vrss_prpr_sign": _sign(iq.value_x100 - iq.open_x100),
        "bstp_nmix_oprc_prdy_ctrt": _rate(iq.open_x100 - iq.prev_x100, iq.prev_x100),
        "bstp_nmix_hgpr": x100(iq.high_x100),
        "prdy_nmix_vrss_nmix_hgpr": x100(iq.high_x100 - iq.prev_x100),
        "hgpr_vrss_prpr_sign": _sign(iq.value_x100 - iq.high_x100),
        "bstp_nmix_hgpr_prdy_ctrt": _rate(iq.high_x100 - iq.prev_x100, iq.prev_x100),
        "bstp_nmix_lwpr": x100(iq.low_x100),
        "prdy_clpr_vrss_lwpr": x100(iq.low_x100 - iq.prev_x100),
        "lwpr_vrss_prpr_sign": _sign(iq.value_x100 - iq.low_x100),
        "prdy_clpr_vrss_lwpr_rate": _rate(iq.low_x100 - iq.prev_x100, iq.prev_x100),
        "ascn_issu_cnt": str(iq.up),
        "uplm_issu_cnt": str(iq.upper_limit),
        "stnr_issu_cnt": str(iq.flat),
        "down_issu_cnt": str(iq.down),
        "lslm_issu_cnt": str(iq.lower_limit),
        "dryy_bstp_nmix_hgpr": x100(iq.prev_x100 * 115 // 100),
        "dryy_hgpr_vrss_prpr_rate": _rate(
            iq.value_x100 - iq.prev_x100 * 115 // 100, iq.prev_x100 * 115 // 100
        ),
        "dryy_bstp_nmix_hgpr_date": "20260105",
        "dryy_bstp_nmix_lwpr": x100(iq.prev_x100 * 85 // 100),
        "dryy_lwpr_vrss_prpr_rate": _rate(
            iq.value_x100 - iq.prev_x100 * 85 // 100, iq.prev_x100 * 85 // 100
        ),
        "dryy_bstp_nmix_lwpr_date": "20260302",
        "total_askp_rsqn": str(iq.acml_vol // 3),
        "total_bidp_rsqn": str(iq.acml_vol // 3),
        "seln_rsqn_rate": "50.00",
        "shnu_rsqn_rate": "50.00",
        "ntby_rsqn": "0",
    }


def cnt_record(t: Trade, q: Quote, book: Book, day: str, extra: int = 0) -> list[str]:
    """One ``H0STCNT0`` record (46 fields, reference §7.1) for trade ``t``; ``q`` is the quote
    at the trade's second (limits, base, phase), ``book`` the orderbook there."""
    price = t.price
    diff = price - q.base
    if price >= q.upper:
        sign = "1"
    elif price <= q.lower:
        sign = "4"
    else:
        sign = _sign(diff)
    open_ = t.open
    ccld = "1" if t.side == 1 else "5"
    hhmmss = q.hours.hhmmss
    prev_same = q.prev_volume * max(0, t.second - OPEN_S) // (q.hours.close_s - OPEN_S)
    vi_ref = q.vi_ref or open_ or q.base
    rec = [
        q.symbol.code,
        hhmmss(t.second),
        str(price),
        sign,
        str(diff),
        _rate(diff, q.base),
        f"{t.acml_tr_pbmn / t.acml_vol:.2f}" if t.acml_vol else "0.00",
        str(open_),
        str(t.high),
        str(t.low),
        str(book.asks[0]),
        str(book.bids[0]),
        str(t.volume),
        str(t.acml_vol),
        str(t.acml_tr_pbmn),
        str(t.sell_count),
        str(t.buy_count),
        str(t.buy_count - t.sell_count),
        _rate(t.buy_qty, t.sell_qty) if t.sell_qty else "0.00",
        str(t.sell_qty),
        str(t.buy_qty),
        ccld,
        _rate(t.buy_qty, t.buy_qty + t.sell_qty),
        _rate(t.acml_vol, q.prev_volume),
        hhmmss(OPEN_S) if open_ else "",
        _sign(price - open_) if open_ else "3",
        str(price - open_) if open_ else "0",
        hhmmss(t.high_s) if t.high_s >= 0 else "",
        _sign(price - t.high),
        str(price - t.high),
        hhmmss(t.low_s) if t.low_s >= 0 else "",
        _sign(price - t.low),
        str(price - t.low),
        day,
        q.phase.new_mkop_cls_code,
        _yn(q.halted),
        str(book.ask_qty[0]),
        str(book.bid_qty[0]),
        str(sum(book.ask_qty)),
        str(sum(book.bid_qty)),
        _rate(t.acml_vol, q.symbol.listed_shares),
        str(prev_same),
        _rate(t.acml_vol, prev_same),
        q.phase.hour_cls_code,
        "",
        str(vi_ref),
    ]
    if extra:
        rec.extend(str(i) for i in range(extra))
    return rec


def asp_record(q: Quote, book: Book, prev: Book, extra: int = 0) -> list[str]:
    """One ``H0STASP0`` record (59 fields, reference §7.2)."""
    total_ask, total_bid = sum(book.ask_qty), sum(book.bid_qty)
    call = book.antc_price > 0
    antc_diff = book.antc_price - q.base if call else 0
    rec = [
        q.symbol.code,
        q.hours.hhmmss(book.second),
        q.phase.hour_cls_code,
        *(str(p) for p in book.asks),
        *(str(p) for p in book.bids),
        *(str(v) for v in book.ask_qty),
        *(str(v) for v in book.bid_qty),
        str(total_ask),
        str(total_bid),
        "0",
        "0",
        str(book.antc_price),
        str(book.antc_qty),
        str(book.antc_vol),
        str(antc_diff),
        _sign(antc_diff) if call else "3",
        _rate(antc_diff, q.base) if call else "0.00",
        str(q.acml_vol),
        str(total_ask - sum(prev.ask_qty)),
        str(total_bid - sum(prev.bid_qty)),
        "0",
        "0",
        "",
    ]
    if extra:
        rec.extend(str(i) for i in range(extra))
    return rec
