"""Configuration loading: TOML, environment overrides and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.core.config import Config, ConfigError, load_config, render_config


def write(tmp_path: Path, text: str) -> Path:
    conf = tmp_path / "conf"
    conf.mkdir(exist_ok=True)
    path = conf / "strongroom.toml"
    path.write_text(text)
    return path


GOOD = '[database]\napp_password = "x"\n'


def test_defaults_and_home(tmp_path):
    """A minimal file gets the documented defaults and its install directory as home."""
    config = load_config(write(tmp_path, GOOD), environ={})
    assert config.server.port == 7272
    assert config.node.role == "primary"
    assert (config.gateway.enabled, config.gateway.port) == (True, 2222)  # issue 30
    assert config.home == tmp_path.resolve()
    assert config.path("conf/master.key") == tmp_path.resolve() / "conf" / "master.key"


def test_environment_overrides_file(tmp_path):
    """STRONGROOM_<SECTION>_<KEY> beats the file, with types converted."""
    path = write(tmp_path, GOOD + "[server]\nport = 8000\n")
    config = load_config(
        path,
        environ={
            "STRONGROOM_SERVER_PORT": "9443",
            "STRONGROOM_DATABASE_EMBEDDED": "false",
            "STRONGROOM_DATABASE_COMMAND_TIMEOUT": "12.5",
        },
    )
    assert config.server.port == 9443
    assert config.database.embedded is False
    assert config.database.command_timeout == 12.5


@pytest.mark.parametrize(
    ("text", "environ", "message"),
    [
        (GOOD + '[server]\nport = "abc"\n', {}, "server.port must be an integer"),
        (GOOD + "[server]\nport = 70000\n", {}, "server.port must be between 1 and 65535"),
        (GOOD + "[server]\nprot = 1\n", {}, "unknown setting server.prot"),
        (GOOD + "[servers]\nport = 1\n", {}, "unknown section [servers]"),
        (GOOD + "[server\n", {}, "not valid TOML"),
        ("[database]\n", {}, "database.app_password is required"),
        (GOOD, {"STRONGROOM_SERVER_PORT": "seven"}, "STRONGROOM_SERVER_PORT: server.port"),
        (GOOD + '[node]\nrole = "leader"\n', {}, "node.role must be 'primary' or 'secondary'"),
        (GOOD + "[database]\n", {}, "not valid TOML"),
        (
            GOOD.replace('"x"', '"x"\nowner_user = "strongroom_app"'),
            {},
            "app_user must differ from database.owner_user",
        ),
        (GOOD + "[security]\nsession_idle_minutes = 9999\n", {}, "cannot exceed"),
        (GOOD + "[gateway]\nport = 0\n", {}, "gateway.port must be between 1 and 65535"),
        (GOOD + "[gateway]\nport = 7272\n", {}, "gateway.port must differ from server.port"),
        (GOOD, {"STRONGROOM_GATEWAY_MAX_AUTH_ATTEMPTS": "0"}, "gateway.max_auth_attempts"),
        (GOOD + "[gateway]\nlogin_grace_seconds = 0\n", {}, "must be positive"),
    ],
)
def test_bad_configuration_is_named(tmp_path, text, environ, message):
    """Each bad value produces an error naming the file or variable and the setting."""
    with pytest.raises(ConfigError) as excinfo:
        load_config(write(tmp_path, text), environ=environ)
    assert message in str(excinfo.value)


def test_missing_file_says_to_init(tmp_path):
    """A missing file tells the user to run init."""
    with pytest.raises(ConfigError, match="strongroom init"):
        load_config(tmp_path / "conf" / "strongroom.toml", environ={})


def test_render_round_trips(tmp_path):
    """What init writes loads back to the same values, quotes and backslashes included."""
    config = Config(home=tmp_path)
    config.database.app_password = 'a"b\\c'
    config.server.port = 8443
    path = write(tmp_path, render_config(config))
    loaded = load_config(path, environ={})
    assert loaded.database.app_password == 'a"b\\c'
    assert loaded.server.port == 8443
