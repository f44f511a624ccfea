"""KIS settings: credentials, environment, hosts, limits.

Read from the environment (``KIS_APP_KEY``, ``KIS_APP_SECRET``, ``KIS_ENV`` = live|paper|sim,
``KIS_WS_SYMBOLS`` comma separated, optional ``KIS_ACCOUNT_NO``, ``KIS_CONFIG`` = path of a TOML
file) and/or the ``[kis]`` table of a TOML file; the environment wins. The file is decoded with
``forbid_unknown_fields`` so a typo is an error. A missing or malformed credential raises
``KisConfigError`` naming the variable (and file), never the value.

Hosts per environment come from shared/reference/kis-protocol.md §1; for ``sim`` the URLs come
from the running simulator (``KisConfig.bind_simulator``).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import msgspec

from pipeline import Environment

from ._errors import KisConfigError
from ._secrets import Secret

__all__ = [
    "HOSTS",
    "MAX_WS_REGISTRATIONS",
    "KisConfig",
    "KisFileConfig",
    "KisHosts",
    "RetryPolicy",
    "load_kis_config",
]

#: the tables of the TOML file ``observer run`` reads (``[run]`` is observer.collect's)
_CONFIG_TABLES: Final = ("kis", "run")
MAX_WS_REGISTRATIONS: Final = 41  # per app key; the 42nd gets OPSP0008 (reference §4)


class KisHosts(msgspec.Struct, frozen=True, kw_only=True):
    rest_url: str
    ws_url: str


HOSTS: Final[Mapping[Environment, KisHosts]] = {
    Environment.LIVE: KisHosts(
        rest_url="https://openapi.koreainvestment.com:9443",
        ws_url="ws://ops.koreainvestment.com:21000/tryitout",
    ),
    Environment.PAPER: KisHosts(
        rest_url="https://openapivts.koreainvestment.com:29443",
        ws_url="ws://ops.koreainvestment.com:31000/tryitout",
    ),
}

# Requests per second per app key. KIS allows 20/s live and ~2/s paper (reference §4); we keep
# headroom on live so clock skew between us and KIS's window never trips EGW00201.
DEFAULT_RATE_PER_S: Final[Mapping[Environment, float]] = {
    Environment.LIVE: 18.0,
    Environment.PAPER: 2.0,
    Environment.SIM: 18.0,
}

_APP_KEY_LEN: Final = 36  # reference §2.1 [O][P]
_APP_SECRET_LEN: Final = 180
_TOKEN_CHARS: Final = re.compile(r"[!-~]+")  # printable ASCII, no whitespace
_SYMBOL: Final = re.compile(r"(?:[0-9A-Z]{6}|Q[0-9]{6})")
_ACCOUNT: Final = re.compile(r"[0-9]{8}-?[0-9]{2}")


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Retries of one REST request: capped exponential backoff with jitter under a deadline."""

    attempts: int = 10
    deadline_s: float = 30.0
    wait_initial_s: float = 0.2
    wait_max_s: float = 5.0
    wait_jitter_s: float = 0.5
    rate_limit_cooldown_s: float = 1.0  # after EGW00201: every request on this key pauses


class KisFileConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The ``[kis]`` table of a TOML config file (all optional; the environment overrides)."""

    app_key: str | None = None
    app_secret: str | None = None
    env: str | None = None
    ws_symbols: list[str] | str | None = None
    account_no: str | None = None
    rest_url: str | None = None
    ws_url: str | None = None
    token_cache_dir: str | None = None
    rest_rate_per_s: float | None = None
    token_refresh_margin_s: float | None = None
    request_timeout_s: float | None = None
    ws_silence_s: float | None = None
    retry: RetryPolicy | None = None


class KisConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Validated KIS settings. Secrets are ``Secret``; ``repr`` shows only masks."""

    environment: Environment
    app_key: Secret
    app_secret: Secret
    ws_symbols: tuple[str, ...] = ()
    account_no: Secret | None = None
    rest_url: str = ""
    ws_url: str = ""
    token_cache_dir: Path | None = None  # None: no on-disk token cache
    rest_rate_per_s: float = 18.0  # 0 or less: limiter off (benchmarks only)
    rest_burst: int = 1
    token_refresh_margin_s: float = (
        600.0  # re-issue when less than this is left (python-kis: 10 min)
    )
    token_issue_interval_s: float = 60.0  # KIS issues one token per minute per app key
    token_throttle_deadline_s: float = 150.0  # how long EGW00133 may be waited out
    request_timeout_s: float = 10.0
    custtype: str = "P"
    ws_silence_s: float = 60.0
    max_ws_registrations: int = MAX_WS_REGISTRATIONS
    retry: RetryPolicy = RetryPolicy()

    def bind_simulator(
        self, *, rest_url: str, ws_url: str, app_key: str, app_secret: str
    ) -> KisConfig:
        """This config pointed at a running simulator, with the credentials it accepts."""
        return msgspec.structs.replace(
            self,
            rest_url=rest_url,
            ws_url=ws_url,
            app_key=Secret(app_key),
            app_secret=Secret(app_secret),
        )

    def require_endpoints(self) -> None:
        """Raise ``KisConfigError`` unless both base URLs are known."""
        if not self.rest_url:
            raise KisConfigError("rest_url", f"no REST base URL for environment {self.environment}")
        if not self.ws_url:
            raise KisConfigError("ws_url", f"no WebSocket URL for environment {self.environment}")


def _check_credential(name: str, value: str, expected_len: int | None) -> Secret:
    if not value:
        raise KisConfigError(name, "is empty")
    if _TOKEN_CHARS.fullmatch(value) is None:
        raise KisConfigError(name, "has whitespace, quotes or non-ASCII characters (copy error?)")
    if expected_len is not None and len(value) != expected_len:
        raise KisConfigError(
            name, f"has {len(value)} characters, KIS issues {expected_len} (copy error?)"
        )
    return Secret(value)


def _parse_symbols(name: str, raw: list[str] | str | None) -> tuple[str, ...]:
    if raw is None:
        return ()
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    symbols = tuple(s.strip().upper() for s in items if s.strip())
    for position, symbol in enumerate(symbols, start=1):
        if _SYMBOL.fullmatch(symbol) is None:
            raise KisConfigError(name, f"entry {position} ({symbol!r}) is not a 6-character code")
    if len(set(symbols)) != len(symbols):
        dupes = sorted({s for s in symbols if symbols.count(s) > 1})
        raise KisConfigError(name, f"lists {', '.join(dupes)} more than once")
    return symbols


def _read_file(path: Path) -> KisFileConfig:
    where = f"config file {path}"
    try:
        document = tomllib.loads(path.read_bytes().decode("utf-8-sig"))
    except FileNotFoundError:
        raise KisConfigError(where, "does not exist") from None
    except UnicodeDecodeError as exc:
        raise KisConfigError(where, f"is not UTF-8 text (byte {exc.start})") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise KisConfigError(where, f"cannot be read: {exc}") from None
    unknown = sorted(set(document) - set(_CONFIG_TABLES))
    if unknown:  # a misspelled [kis] or [run] would be read as absent: an error instead
        raise KisConfigError(
            where,
            f"has unknown top-level entries {', '.join(unknown)} "
            f"(tables: {', '.join(f'[{t}]' for t in _CONFIG_TABLES)})",
        )
    try:
        return msgspec.convert(document.get("kis", {}), KisFileConfig)
    except msgspec.ValidationError as exc:
        # msgspec names the field ("at `$.app_key`"); values never appear in its messages
        raise KisConfigError(f"{where} [kis]", str(exc)) from None


def _default_cache_dir(environ: Mapping[str, str]) -> Path | None:
    base = environ.get("XDG_CACHE_HOME") or (
        str(Path(environ["HOME"]) / ".cache") if environ.get("HOME") else ""
    )
    return Path(base) / "kis-observer" / "tokens" if base else None


def _expand_home(raw: str, environ: Mapping[str, str]) -> Path:
    """``~`` or ``~/x`` under ``HOME`` of ``environ``, as a shell reads it; else as given."""
    home = environ.get("HOME")
    if home and (raw == "~" or raw.startswith("~/")):
        return Path(home) / raw[2:]
    return Path(raw)


def load_kis_config(
    environ: Mapping[str, str] | None = None, *, path: Path | None = None
) -> KisConfig:
    """Settings from ``environ`` (default ``os.environ``) over the ``[kis]`` table of ``path``.

    ``path`` defaults to ``KIS_CONFIG`` when set. Raises ``KisConfigError`` naming the variable
    or file field that is missing or malformed.
    """
    env = os.environ if environ is None else environ
    if path is None and env.get("KIS_CONFIG"):
        path = Path(env["KIS_CONFIG"])
    file = _read_file(path) if path is not None else KisFileConfig()
    where = f" (or app_key in {path})" if path is not None else ""

    def pick(var: str, file_value: str | None) -> tuple[str, str | None]:
        value = env.get(var)
        if value is not None:
            return var, value.strip()
        return (f"kis.{var[4:].lower()} in {path}" if path else var), file_value

    env_name, env_raw = pick("KIS_ENV", file.env)
    if not env_raw:
        raise KisConfigError(env_name, "is not set (live, paper or sim)")
    try:
        environment = Environment(env_raw.lower())
    except ValueError:
        raise KisConfigError(env_name, "must be live, paper or sim") from None

    is_sim = environment is Environment.SIM
    secrets: dict[str, Secret] = {}
    for var, file_value, length in (
        ("KIS_APP_KEY", file.app_key, _APP_KEY_LEN),
        ("KIS_APP_SECRET", file.app_secret, _APP_SECRET_LEN),
    ):
        name, raw = pick(var, file_value)
        if raw is None or raw == "":
            if is_sim:  # the simulator hands out its own credentials (bind_simulator)
                secrets[var] = Secret("")
                continue
            raise KisConfigError(name, f"is not set{where if var == 'KIS_APP_KEY' else ''}")
        secrets[var] = _check_credential(name, raw, None if is_sim else length)

    account: Secret | None = None
    name, raw_account = pick("KIS_ACCOUNT_NO", file.account_no)
    if raw_account:
        if _ACCOUNT.fullmatch(raw_account) is None:
            raise KisConfigError(name, "must be 10 digits, optionally as 8-2 (12345678-01)")
        account = Secret(raw_account)

    sym_name, sym_raw = pick("KIS_WS_SYMBOLS", None)
    symbols = _parse_symbols(
        sym_name if sym_raw is not None else f"kis.ws_symbols in {path}",
        sym_raw if sym_raw is not None else file.ws_symbols,
    )

    hosts = HOSTS.get(environment)
    rest_url = env.get("KIS_REST_URL") or file.rest_url or (hosts.rest_url if hosts else "")
    ws_url = env.get("KIS_WS_URL") or file.ws_url or (hosts.ws_url if hosts else "")
    cache_raw = env.get("KIS_TOKEN_CACHE_DIR")
    cache_dir: Path | None
    if cache_raw:
        cache_dir = _expand_home(cache_raw, env)
    elif file.token_cache_dir is not None and path is not None:
        if not file.token_cache_dir.strip():
            raise KisConfigError(f"kis.token_cache_dir in {path}", "is empty")
        # the file's own: beside it if relative, under the home with a ``~``
        cache_dir = path.parent / _expand_home(file.token_cache_dir, env)
    else:
        cache_dir = _default_cache_dir(env)

    defaults = KisConfig(environment=environment, app_key=Secret(""), app_secret=Secret(""))
    return KisConfig(
        environment=environment,
        app_key=secrets["KIS_APP_KEY"],
        app_secret=secrets["KIS_APP_SECRET"],
        ws_symbols=symbols,
        account_no=account,
        rest_url=rest_url.rstrip("/"),
        ws_url=ws_url,
        token_cache_dir=cache_dir,
        rest_rate_per_s=(
            file.rest_rate_per_s
            if file.rest_rate_per_s is not None
            else DEFAULT_RATE_PER_S[environment]
        ),
        token_refresh_margin_s=(
            file.token_refresh_margin_s
            if file.token_refresh_margin_s is not None
            else defaults.token_refresh_margin_s
        ),
        request_timeout_s=file.request_timeout_s or defaults.request_timeout_s,
        ws_silence_s=file.ws_silence_s or defaults.ws_silence_s,
        retry=file.retry or defaults.retry,
    )
