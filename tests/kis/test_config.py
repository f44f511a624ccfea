"""KIS settings from the environment and a TOML file; errors name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from observer import ConfigError
from observer.kis import HOSTS, KisConfigError, load_kis_config
from pipeline import Environment

KEY = "PS" + "k" * 34
SECRET = "S" * 90 + "t" * 90


def base_env(**over: str) -> dict[str, str]:
    env = {"KIS_APP_KEY": KEY, "KIS_APP_SECRET": SECRET, "KIS_ENV": "live", "HOME": "/home/x"}
    env.update(over)
    return env


def test_environment_variables_fill_the_config() -> None:
    """Key, secret, env, symbols and account come from KIS_* variables."""
    cfg = load_kis_config(base_env(KIS_WS_SYMBOLS="005930, 000660", KIS_ACCOUNT_NO="12345678-01"))
    assert (
        cfg.environment,
        cfg.app_key.reveal(),
        cfg.app_secret.reveal(),
        cfg.ws_symbols,
        cfg.account_no.reveal() if cfg.account_no else None,
    ) == (Environment.LIVE, KEY, SECRET, ("005930", "000660"), "12345678-01")


@pytest.mark.parametrize("env", [Environment.LIVE, Environment.PAPER])
def test_hosts_follow_the_environment(env: Environment) -> None:
    """Live and paper use the reference's REST and WS hosts, WS on /tryitout."""
    cfg = load_kis_config(base_env(KIS_ENV=env.value))
    assert (HOSTS[env].rest_url, HOSTS[env].ws_url) == (cfg.rest_url, cfg.ws_url)


def test_live_hosts_match_the_reference() -> None:
    """Live REST is openapi...:9443, live WS is ops...:21000/tryitout."""
    assert (
        HOSTS[Environment.LIVE].rest_url,
        HOSTS[Environment.LIVE].ws_url,
        HOSTS[Environment.PAPER].rest_url,
        HOSTS[Environment.PAPER].ws_url,
    ) == (
        "https://openapi.koreainvestment.com:9443",
        "ws://ops.koreainvestment.com:21000/tryitout",
        "https://openapivts.koreainvestment.com:29443",
        "ws://ops.koreainvestment.com:31000/tryitout",
    )


def test_default_rate_is_18_live_and_2_paper() -> None:
    """Live keeps headroom under 20/s; paper is 2/s."""
    live = load_kis_config(base_env())
    paper = load_kis_config(base_env(KIS_ENV="paper"))
    assert (live.rest_rate_per_s, paper.rest_rate_per_s) == (18.0, 2.0)


@pytest.mark.parametrize("var", ["KIS_APP_KEY", "KIS_APP_SECRET", "KIS_ENV"])
def test_missing_variable_is_named(var: str) -> None:
    """A missing credential raises a ConfigError whose message names the variable."""
    env = base_env()
    del env[var]
    with pytest.raises(ConfigError) as info:
        load_kis_config(env)
    assert (var, True) == (info.value.setting, var in str(info.value))


def test_malformed_secret_names_the_variable_never_the_value() -> None:
    """A secret with a space is refused naming KIS_APP_SECRET, with no part of the value."""
    bad = "S" * 89 + " " + "t" * 90
    with pytest.raises(KisConfigError) as info:
        load_kis_config(base_env(KIS_APP_SECRET=bad))
    assert (
        info.value.setting,
        "SSSS" in str(info.value),
        "tttt" in repr(info.value),
    ) == ("KIS_APP_SECRET", False, False)


def test_wrong_length_app_key_is_refused() -> None:
    """A 35-character app key (copy error) is refused naming KIS_APP_KEY."""
    with pytest.raises(KisConfigError) as info:
        load_kis_config(base_env(KIS_APP_KEY=KEY[:-1]))
    assert ("KIS_APP_KEY", "35 characters" in str(info.value)) == (info.value.setting, True)


def test_unknown_environment_is_refused() -> None:
    """KIS_ENV=prod is not one of live, paper, sim."""
    with pytest.raises(KisConfigError) as info:
        load_kis_config(base_env(KIS_ENV="prod"))
    assert info.value.setting == "KIS_ENV"


@pytest.mark.parametrize("symbols", ["005930,59", "005930,005930", "005930,abc!!!"])
def test_bad_symbol_lists_are_refused(symbols: str) -> None:
    """Short codes, duplicates and junk in KIS_WS_SYMBOLS are errors naming the variable."""
    with pytest.raises(KisConfigError) as info:
        load_kis_config(base_env(KIS_WS_SYMBOLS=symbols))
    assert info.value.setting == "KIS_WS_SYMBOLS"


def test_malformed_account_number_is_refused_without_echo() -> None:
    """KIS_ACCOUNT_NO must be 10 digits; the error does not echo it."""
    with pytest.raises(KisConfigError) as info:
        load_kis_config(base_env(KIS_ACCOUNT_NO="12345-6789"))
    assert (info.value.setting, "12345-6789" in str(info.value)) == ("KIS_ACCOUNT_NO", False)


def test_repr_of_config_shows_no_secret() -> None:
    """repr(config) masks the key, secret and account number."""
    cfg = load_kis_config(base_env(KIS_ACCOUNT_NO="1234567801"))
    text = repr(cfg)
    assert (
        KEY in text,
        SECRET in text,
        "1234567801" in text,
        "PSxx…(36 chars)" in text,
    ) == (False, False, False, True)


def write_toml(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "observer.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_toml_file_supplies_the_kis_table(tmp_path: Path) -> None:
    """The [kis] table of a TOML file is read when the environment has no KIS_* values."""
    path = write_toml(
        tmp_path,
        f'[kis]\napp_key = "{KEY}"\napp_secret = "{SECRET}"\nenv = "paper"\n'
        'ws_symbols = ["005930", "000660"]\nrest_rate_per_s = 1.5\n[run]\nswing_interval_s = 150\n',
    )
    cfg = load_kis_config({"HOME": "/h"}, path=path)
    assert (
        cfg.environment,
        cfg.ws_symbols,
        cfg.rest_rate_per_s,
    ) == (Environment.PAPER, ("005930", "000660"), 1.5)


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    """KIS_ENV in the environment wins over env in the file."""
    path = write_toml(
        tmp_path, f'[kis]\napp_key = "{KEY}"\napp_secret = "{SECRET}"\nenv = "paper"\n'
    )
    cfg = load_kis_config({"KIS_ENV": "live"}, path=path)
    assert cfg.environment == Environment.LIVE


def test_unknown_field_in_the_file_is_an_error(tmp_path: Path) -> None:
    """A typo (app_kye) in [kis] is refused, naming the field."""
    path = write_toml(tmp_path, f'[kis]\napp_kye = "{KEY}"\nenv = "live"\n')
    with pytest.raises(KisConfigError, match="app_kye") as info:
        load_kis_config({}, path=path)
    assert KEY not in str(info.value)


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    """A config path that does not exist is an error, not silent defaults."""
    with pytest.raises(KisConfigError, match="does not exist"):
        load_kis_config({}, path=tmp_path / "nope.toml")


def test_kis_config_variable_points_at_the_file(tmp_path: Path) -> None:
    """KIS_CONFIG names the TOML file."""
    path = write_toml(
        tmp_path, f'[kis]\napp_key = "{KEY}"\napp_secret = "{SECRET}"\nenv = "live"\n'
    )
    cfg = load_kis_config({"KIS_CONFIG": str(path)})
    assert cfg.app_key.reveal() == KEY


def test_sim_needs_no_credentials_and_binds_to_the_simulator() -> None:
    """KIS_ENV=sim loads without keys; bind_simulator supplies URLs and credentials."""
    cfg = load_kis_config({"KIS_ENV": "sim"})
    bound = cfg.bind_simulator(
        rest_url="http://127.0.0.1:1",
        ws_url="ws://127.0.0.1:1/tryitout",
        app_key="simkey-123456",
        app_secret="simsecret-123456",
    )
    assert (
        cfg.rest_url,
        bound.rest_url,
        bound.app_key.reveal(),
    ) == ("", "http://127.0.0.1:1", "simkey-123456")


def test_sim_without_urls_fails_clearly_when_used() -> None:
    """A sim config that was never bound names the missing rest_url."""
    cfg = load_kis_config({"KIS_ENV": "sim"})
    with pytest.raises(KisConfigError) as info:
        cfg.require_endpoints()
    assert info.value.setting == "rest_url"


def test_token_cache_dir_defaults_under_the_home_cache() -> None:
    """Without KIS_TOKEN_CACHE_DIR the cache lives in ~/.cache/kis-observer/tokens."""
    cfg = load_kis_config(base_env())
    assert Path("/home/x/.cache/kis-observer/tokens") == cfg.token_cache_dir


def test_a_relative_token_cache_dir_in_the_file_is_beside_the_file(tmp_path: Path) -> None:
    """The file's relative token_cache_dir is resolved from the file's folder, not the
    working directory; KIS_TOKEN_CACHE_DIR in the environment stays as given."""
    path = write_toml(tmp_path, '[kis]\nenv = "sim"\ntoken_cache_dir = "tokens"\n')
    from_file = load_kis_config({"HOME": "/h"}, path=path).token_cache_dir
    from_env = load_kis_config({"HOME": "/h", "KIS_TOKEN_CACHE_DIR": "t"}, path=path)
    assert (tmp_path / "tokens", Path("t")) == (from_file, from_env.token_cache_dir)


def test_a_token_cache_dir_with_a_tilde_is_under_home(tmp_path: Path) -> None:
    """``~/tokens`` in the file or in KIS_TOKEN_CACHE_DIR is under HOME, not a folder '~'."""
    path = write_toml(tmp_path, '[kis]\nenv = "sim"\ntoken_cache_dir = "~/tokens"\n')
    from_file = load_kis_config({"HOME": "/h"}, path=path).token_cache_dir
    from_env = load_kis_config({"HOME": "/h", "KIS_TOKEN_CACHE_DIR": "~/t"}, path=path)
    assert (Path("/h/tokens"), Path("/h/t")) == (from_file, from_env.token_cache_dir)


def test_an_empty_token_cache_dir_in_the_file_is_an_error(tmp_path: Path) -> None:
    """``token_cache_dir = ""`` names the key instead of meaning the file's folder."""
    path = write_toml(tmp_path, '[kis]\nenv = "sim"\ntoken_cache_dir = ""\n')
    with pytest.raises(KisConfigError, match=r"kis\.token_cache_dir in .*: is empty"):
        load_kis_config({"HOME": "/h"}, path=path)


def test_a_config_file_that_is_not_utf8_is_an_error_naming_it(tmp_path: Path) -> None:
    """A CP949-saved TOML file is refused with its name, not a UnicodeDecodeError."""
    path = tmp_path / "kis.toml"
    path.write_bytes('[kis]\nenv = "live" # 실전\n'.encode("cp949"))
    with pytest.raises(KisConfigError, match=r"kis\.toml: is not UTF-8 text"):
        load_kis_config({}, path=path)


def test_a_config_file_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    """A TOML file saved by a Windows editor starts with a UTF-8 BOM; it reads as TOML."""
    path = tmp_path / "kis.toml"
    path.write_bytes('[kis]\nenv = "sim"\n'.encode("utf-8-sig"))
    assert Environment.SIM == load_kis_config({}, path=path).environment


def test_a_misspelled_table_in_the_file_is_an_error(tmp_path: Path) -> None:
    """``[kiss]`` beside ``[kis]`` is refused naming it, not silently ignored."""
    path = write_toml(tmp_path, '[kis]\nenv = "sim"\n[kiss]\nenv = "live"\n')
    with pytest.raises(KisConfigError, match=r"unknown top-level entries kiss \(tables"):
        load_kis_config({}, path=path)


def test_a_file_with_only_a_run_table_takes_credentials_from_the_environment(
    tmp_path: Path,
) -> None:
    """A file holding only ``[run]`` is no error: the credentials come from KIS_* variables."""
    path = write_toml(tmp_path, "[run]\nswing_interval_s = 150\n")
    assert KEY == load_kis_config(base_env(), path=path).app_key.reveal()
