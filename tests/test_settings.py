"""Settings: kibana.yml spellings, environment and override layers, clear errors."""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

import pytest

import llmrelay.settings as settings_module
from llmrelay.domain.prices import DEFAULT_PRICES, Price
from llmrelay.errors import ConfigurationError
from llmrelay.settings import PreconfiguredConnector, Settings, load_settings

KEY = "k" * 40  # a valid encryption key
SECRET = "sk-very-secret-value-123"


def _load(
    tmp_path: Path,
    yml: str | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Settings:
    path = None
    if yml is not None:
        path = tmp_path / "kibana.yml"
        path.write_text(textwrap.dedent(yml), "utf-8")
    environ = {"LLMRELAY_HOME": str(tmp_path / "home"), **(env or {})}
    return load_settings(path, environ=environ, overrides=overrides)


def _error(tmp_path: Path, yml: str | None = None, **kwargs: object) -> str:
    with pytest.raises(ConfigurationError) as info:
        _load(tmp_path, yml, **kwargs)  # type: ignore[arg-type]
    return str(info.value)


def _comparable(settings: Settings) -> dict[str, object]:
    return settings.model_dump(exclude={"server_uuid"})


# --- defaults ---------------------------------------------------------------------


def test_defaults_are_kibanas(tmp_path: Path) -> None:
    s = _load(tmp_path)
    assert s.actions.allowedHosts == ("*",)
    assert s.actions.enabledActionTypes == ("*",)
    assert s.actions.responseTimeout == 60_000
    assert s.actions.maxResponseContentLength == 1024 * 1024
    assert s.actions.ssl.verificationMode == "full"
    assert s.actions.ssl.proxyVerificationMode == "full"
    assert s.actions.proxyUrl is None and s.actions.customHostSettings == ()
    assert s.preconfigured == {}
    assert (s.host, s.port) == ("127.0.0.1", 5601)
    assert s.encryption_key is None and s.admin_password is None
    assert s.home == tmp_path / "home"
    assert s.database_url == f"sqlite+aiosqlite:///{tmp_path}/home/llmrelay.db"
    assert s.spool_path == tmp_path / "home" / "spool" / "events.jsonl"
    assert s.version


def test_default_home_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings(environ={})
    assert s.home == tmp_path / ".llmrelay"
    assert not s.home.exists()  # loading writes nothing


def test_reading_settings_happens_only_on_call() -> None:
    assert not any(isinstance(value, Settings) for value in vars(settings_module).values())


def test_two_settings_coexist(tmp_path: Path) -> None:
    a = _load(tmp_path, env={"LLMRELAY_PORT": "5001"})
    b = _load(
        tmp_path, env={"LLMRELAY_PORT": "5002", "LLMRELAY__xpack__actions__allowedHosts": "x"}
    )
    assert (a.port, b.port) == (5001, 5002)
    assert a.actions.allowedHosts == ("*",) and b.actions.allowedHosts == ("x",)


def test_settings_are_frozen(tmp_path: Path) -> None:
    s = _load(tmp_path)
    with pytest.raises(ValueError):
        s.port = 1  # type: ignore[misc]


# --- spellings --------------------------------------------------------------------

DOTTED = """
xpack.actions.allowedHosts: [api.openai.com, localhost]
xpack.actions.ssl.verificationMode: certificate
xpack.actions.responseTimeout: 2m
server.port: 5602
"""
NESTED = """
xpack:
  actions:
    allowedHosts: [api.openai.com, localhost]
    ssl:
      verificationMode: certificate
    responseTimeout: 2m
server:
  port: 5602
"""
MIXED = """
xpack.actions:
  allowedHosts: [api.openai.com, localhost]
  ssl.verificationMode: certificate
xpack:
  actions.responseTimeout: 2m
server: {port: 5602}
"""


def test_dotted_nested_and_mixed_are_equal(tmp_path: Path) -> None:
    loaded = [_comparable(_load(tmp_path, yml)) for yml in (DOTTED, NESTED, MIXED)]
    assert loaded[0] == loaded[1] == loaded[2]
    s = _load(tmp_path, MIXED)
    assert s.actions.allowedHosts == ("api.openai.com", "localhost")
    assert s.actions.ssl.verificationMode == "certificate"
    assert s.actions.responseTimeout == 120_000
    assert s.port == 5602


def test_a_key_given_twice_in_different_spellings_is_an_error(tmp_path: Path) -> None:
    message = _error(
        tmp_path,
        """
        xpack.actions.ssl.verificationMode: none
        xpack:
          actions:
            ssl: {verificationMode: full}
        """,
    )
    assert "xpack.actions.ssl.verificationMode" in message
    assert "more than once" in message


def test_a_key_repeated_verbatim_is_an_error_with_its_line(tmp_path: Path) -> None:
    message = _error(tmp_path, "server.port: 1\nserver.port: 2\n")
    assert "line 2" in message and "server.port" in message


def test_custom_host_settings_accept_dotted_keys_inside_entries(tmp_path: Path) -> None:
    dotted = _load(
        tmp_path,
        """
        xpack.actions.customHostSettings:
          - url: https://localhost:8443
            ssl.verificationMode: none
        """,
    )
    nested = _load(
        tmp_path,
        """
        xpack.actions.customHostSettings:
          - url: https://localhost:8443
            ssl: {verificationMode: none}
        """,
    )
    assert dotted.actions.customHostSettings == nested.actions.customHostSettings
    entry = dotted.actions.customHostSettings[0]
    assert entry.ssl is not None and entry.ssl.verificationMode == "none"


def test_our_settings_live_under_llmrelay(tmp_path: Path) -> None:
    s = _load(
        tmp_path,
        """
        llmrelay.defaultModel: gpt-4o
        llmrelay.defaultTimeout: 30s
        llmrelay.databaseUrl: postgresql+asyncpg://db/llmrelay
        server.host: 192.168.1.10
        server.uuid: 5D7677F7-B88F-4ABD-8915-C86CAD6B95FD
        """,
    )
    assert s.actions.defaultModel == "gpt-4o"
    assert s.actions.defaultTimeoutMs == 30_000
    assert s.database_url == "postgresql+asyncpg://db/llmrelay"
    assert s.host == "192.168.1.10"
    assert s.server_uuid == "5d7677f7-b88f-4abd-8915-c86cad6b95fd"


def test_empty_file_and_empty_namespace_are_fine(tmp_path: Path) -> None:
    assert _comparable(_load(tmp_path, "")) == _comparable(_load(tmp_path))
    assert _comparable(_load(tmp_path, "xpack.actions:\n")) == _comparable(_load(tmp_path))


# --- layers -----------------------------------------------------------------------


def test_environment_beats_file_and_overrides_beat_environment(tmp_path: Path) -> None:
    yml = "server.port: 5602\nxpack.actions.allowedHosts: [from-file]\n"
    env = {"LLMRELAY_PORT": "5603", "LLMRELAY__xpack__actions__allowedHosts": '["from-env"]'}
    assert _load(tmp_path, yml).port == 5602
    s = _load(tmp_path, yml, env=env)
    assert (s.port, s.actions.allowedHosts) == (5603, ("from-env",))
    s = _load(
        tmp_path,
        yml,
        env=env,
        overrides={"port": 5604, "xpack.actions.allowedHosts": ["from-cli"], "host": None},
    )
    assert (s.port, s.actions.allowedHosts, s.host) == (5604, ("from-cli",), "127.0.0.1")


def test_environment_scheme(tmp_path: Path) -> None:
    s = _load(
        tmp_path,
        env={
            "LLMRELAY__xpack__actions__proxyBypassHosts": "a.example, b.example",
            "LLMRELAY__XPACK__ACTIONS__ENABLEDACTIONTYPES": '[".gen-ai"]',
            "LLMRELAY__xpack__actions__ssl": '{"proxyVerificationMode": "none"}',
            "LLMRELAY__xpack__actions__maxResponseContentLength": "2mb",
            "LLMRELAY__xpack__actions__responseTimeout": "90000",
            "LLMRELAY__xpack__actions__proxyHeaders": '{"X-Token": "abc"}',
            "LLMRELAY__llmrelay__defaultModel": "123",  # strings stay strings
            "LLMRELAY_ENCRYPTION_KEY": KEY,
            "LLMRELAY_ADMIN_PASSWORD": "pw",
            "LLMRELAY_HOST": "::1",
            "LLMRELAY_DATABASE_URL": "sqlite+aiosqlite:///x.db",
            "LLMRELAY_UNRELATED": "ignored",
            "LLMRELAY__server__port": "",  # empty means unset
        },
    )
    assert s.actions.proxyBypassHosts == ("a.example", "b.example")
    assert s.actions.enabledActionTypes == (".gen-ai",)
    assert s.actions.ssl.proxyVerificationMode == "none"
    assert s.actions.maxResponseContentLength == 2 * 1024 * 1024
    assert s.actions.responseTimeout == 90_000
    assert s.actions.proxyHeaders == {"X-Token": "abc"}
    assert s.actions.defaultModel == "123"
    assert (s.encryption_key, s.admin_password, s.host) == (KEY, "pw", "::1")
    assert s.database_url == "sqlite+aiosqlite:///x.db"
    assert s.port == 5601


def test_config_file_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "llmrelay.yml"
    path.write_text("server.port: 7000\n")
    s = load_settings(environ={"LLMRELAY_CONFIG": str(path), "LLMRELAY_HOME": str(tmp_path)})
    assert s.port == 7000


def test_short_and_long_environment_names_for_one_setting_conflict(tmp_path: Path) -> None:
    message = _error(tmp_path, env={"LLMRELAY_PORT": "1", "LLMRELAY__server__port": "2"})
    assert "server.port" in message and "more than once" in message


def test_admin_password_is_never_read_from_the_file(tmp_path: Path) -> None:
    message = _error(tmp_path, "llmrelay.adminPassword: hunter2hunter2\n")
    assert "llmrelay.adminPassword" in message and "hunter2" not in message


def test_home_is_not_a_file_setting(tmp_path: Path) -> None:
    assert "LLMRELAY_HOME" in _error(tmp_path, "llmrelay.home: /data\n")


def test_unknown_override_is_an_error(tmp_path: Path) -> None:
    assert "nonsense" in _error(tmp_path, overrides={"nonsense": 1})


def test_home_and_version_overrides(tmp_path: Path) -> None:
    s = _load(tmp_path, overrides={"home": tmp_path / "other", "version": "9.9.9"})
    assert s.home == tmp_path / "other" and s.version == "9.9.9"


# --- errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("yml", "setting", "detail"),
    [
        ("server.port: abc\n", "server.port", "integer"),
        ("server.port: 70000\n", "server.port", "65535"),
        ("xpack.actions.responseTimeout: 60 parsecs\n", "xpack.actions.responseTimeout", "60s"),
        ("xpack.actions.maxResponseContentLength: lots\n", "maxResponseContentLength", "1mb"),
        ("xpack.actions.ssl.verificationMode: partial\n", "ssl.verificationMode", "'full'"),
        ("xpack.actions.allowedHosts: 5\n", "xpack.actions.allowedHosts", "tuple"),
        ("xpack.actions.allowedHost: [a]\n", "xpack.actions.allowedHost", "allowedHosts"),
        ("xpack.actions.ssl.verficationMode: none\n", "ssl.verficationMode", "unknown"),
        ("xpack.actions: [a]\n", "xpack.actions", "mapping"),
        ("llmrelay.defaultTimeout: soon\n", "llmrelay.defaultTimeout", "duration"),
        ("llmrelay.defualtModel: x\n", "llmrelay.defualtModel", "llmrelay.defaultModel"),
        ("server.uuid: not-a-uuid\n", "server.uuid", "UUID"),
        (
            "xpack.actions.customHostSettings: [{url: 'https://h:1', sll: {}}]\n",
            "xpack.actions.customHostSettings[0].sll",
            "unknown",
        ),
        ("- just\n- a list\n", "settings file", "mapping"),
    ],
)
def test_bad_setting_names_it(tmp_path: Path, yml: str, setting: str, detail: str) -> None:
    message = _error(tmp_path, yml)
    assert setting in message
    assert detail in message
    assert "Traceback" not in message


def test_invalid_yaml_names_the_line_and_hides_the_text(tmp_path: Path) -> None:
    yml = f"server.port: 5601\nxpack.encryptedSavedObjects.encryptionKey: [{SECRET}\nfoo: bar\n"
    message = _error(tmp_path, yml)
    assert "invalid YAML" in message and "line 3" in message
    assert SECRET not in message


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"cannot read settings file .*missing\.yml"):
        load_settings(tmp_path / "missing.yml", environ={})


def test_short_encryption_key_names_the_setting_not_the_value(tmp_path: Path) -> None:
    short = "short-secret-key"
    for kwargs in (
        {"yml": f"xpack.encryptedSavedObjects.encryptionKey: {short}\n"},
        {"env": {"LLMRELAY_ENCRYPTION_KEY": short}},
        {"overrides": {"encryption_key": short}},
    ):
        message = _error(tmp_path, **kwargs)
        assert "xpack.encryptedSavedObjects.encryptionKey" in message
        assert "32 characters" in message
        assert short not in message


def test_secrets_never_appear_in_errors(tmp_path: Path) -> None:
    bad_connector = f"""
    xpack.actions.preconfigured:
      my-openai:
        name: ""
        actionTypeId: .gen-ai
        secrets: {{apiKey: {SECRET}}}
    """
    message = _error(tmp_path, bad_connector)
    assert "xpack.actions.preconfigured.my-openai.name" in message
    assert SECRET not in message

    message = _error(tmp_path, f"xpack.actions.proxyHeaders: {{Authorization: [{SECRET}]}}\n")
    assert "xpack.actions.proxyHeaders.Authorization" in message and SECRET not in message

    message = _error(
        tmp_path, env={"LLMRELAY__xpack__actions__preconfigured": f'{{"a": {{"{SECRET}'}
    )
    assert "xpack.actions.preconfigured" in message and "JSON" in message
    assert SECRET not in message


def test_errors_name_the_source(tmp_path: Path) -> None:
    message = _error(tmp_path, env={"LLMRELAY__xpack__actions__responseTimeout": "1 fortnight"})
    assert "xpack.actions.responseTimeout" in message
    assert "LLMRELAY__xpack__actions__responseTimeout" in message


def test_repr_hides_secrets(tmp_path: Path) -> None:
    s = _load(
        tmp_path,
        f"""
        xpack.encryptedSavedObjects.encryptionKey: {KEY}
        xpack.actions.preconfigured:
          c1: {{name: One, actionTypeId: .gen-ai, secrets: {{apiKey: {SECRET}}}}}
        """,
        env={"LLMRELAY_ADMIN_PASSWORD": "hunter2hunter2"},
    )
    text = repr(s) + str(s)
    assert KEY not in text and SECRET not in text and "hunter2" not in text
    assert s.preconfigured["c1"].secrets == {"apiKey": SECRET}


# --- warnings ---------------------------------------------------------------------


def test_other_kibana_settings_only_warn(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="llmrelay.settings"):
        s = _load(
            tmp_path,
            """
            elasticsearch.hosts: ["http://localhost:9200"]
            server.basePath: /kibana
            xpack.actions.run.maxAttempts: 5
            xpack.actions.queued: {max: 10}
            """,
        )
    assert s.port == 5601
    logged = caplog.text
    for key in ("elasticsearch.hosts", "server.basePath", "run.maxAttempts", "queued.max"):
        assert key in logged


# --- preconfigured connectors -----------------------------------------------------


def test_preconfigured_connector_defaults(tmp_path: Path) -> None:
    s = _load(tmp_path, "xpack.actions.preconfigured: {c1: {name: One, actionTypeId: .gen-ai}}\n")
    assert s.preconfigured == {
        "c1": PreconfiguredConnector(name="One", actionTypeId=".gen-ai"),
    }
    assert s.preconfigured["c1"].config == {} and s.preconfigured["c1"].exposeConfig is False


@pytest.mark.parametrize("bad_id", ["", "__proto__", "constructor"])
def test_preconfigured_reserved_ids(tmp_path: Path, bad_id: str) -> None:
    yml = f"xpack.actions.preconfigured: {{'{bad_id}': {{name: x, actionTypeId: .gen-ai}}}}\n"
    message = _error(tmp_path, yml)
    assert "xpack.actions.preconfigured" in message and "invalid preconfigured" in message


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ("{actionTypeId: .gen-ai}", "name"),
        ("{name: '  ', actionTypeId: .gen-ai}", "name"),
        ("{name: x}", "actionTypeId"),
        ("{name: x, actionTypeId: .gen-ai, exposeConfig: maybe}", "exposeConfig"),
        ("{name: x, actionTypeId: .gen-ai, secret: {}}", "secret"),
        ("{name: x, actionTypeId: .gen-ai, config: [1]}", "config"),
    ],
)
def test_preconfigured_entry_validation(tmp_path: Path, entry: str, field: str) -> None:
    message = _error(tmp_path, f"xpack.actions.preconfigured: {{c1: {entry}}}\n")
    assert f"xpack.actions.preconfigured.c1.{field}" in message


# --- a kibana.yml ports over ---------------------------------------------------------

KIBANA_YML = """
server.host: "192.168.1.10"
server.port: 5601
elasticsearch.hosts: ["https://es.internal:9200"]
elasticsearch.username: kibana_system
xpack.encryptedSavedObjects.encryptionKey: "{key}"
xpack.actions.allowedHosts: ["api.openai.com", "my-resource.openai.azure.com", "llm.internal"]
xpack.actions.enabledActionTypes: [".gen-ai", ".server-log"]
xpack.actions.proxyUrl: http://proxy.internal:3128
xpack.actions.proxyHeaders: {{"Proxy-Authorization": "Basic c2VjcmV0"}}
xpack.actions.proxyBypassHosts: ["llm.internal"]
xpack.actions.ssl.verificationMode: full
xpack.actions.ssl.proxyVerificationMode: certificate
xpack.actions.maxResponseContentLength: 5mb
xpack.actions.responseTimeout: 120s
xpack.actions.customHostSettings:
  - url: https://llm.internal:443
    ssl:
      verificationMode: certificate
      certificateAuthoritiesData: |
        -----BEGIN CERTIFICATE-----
        MIIB
        -----END CERTIFICATE-----
xpack.actions.preconfigured:
  azure-gpt4o:
    name: Azure GPT-4o
    actionTypeId: .gen-ai
    exposeConfig: true
    config:
      apiProvider: Azure OpenAI
      apiUrl: https://my-resource.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version=2024-06-01
    secrets:
      apiKey: {secret}
  local-llama:
    name: Local llama
    actionTypeId: .gen-ai
    config:
      apiProvider: Other
      apiUrl: https://llm.internal/v1/chat/completions
      defaultModel: llama3
    secrets:
      apiKey: none
"""


def test_a_realistic_kibana_yml_ports_over(tmp_path: Path) -> None:
    s = _load(tmp_path, KIBANA_YML.format(key=KEY, secret=SECRET))
    assert (s.host, s.port, s.encryption_key) == ("192.168.1.10", 5601, KEY)
    a = s.actions
    assert a.allowedHosts == ("api.openai.com", "my-resource.openai.azure.com", "llm.internal")
    assert a.enabledActionTypes == (".gen-ai", ".server-log")
    assert a.proxyUrl == "http://proxy.internal:3128"
    assert a.proxyHeaders == {"Proxy-Authorization": "Basic c2VjcmV0"}
    assert a.proxyBypassHosts == ("llm.internal",)
    assert (a.ssl.verificationMode, a.ssl.proxyVerificationMode) == ("full", "certificate")
    assert a.maxResponseContentLength == 5 * 1024 * 1024
    assert a.responseTimeout == 120_000
    host = a.customHostSettings[0]
    assert host.url == "https://llm.internal:443"
    assert host.ssl is not None and host.ssl.verificationMode == "certificate"
    assert "BEGIN CERTIFICATE" in (host.ssl.certificateAuthoritiesData or "")
    azure = s.preconfigured["azure-gpt4o"]
    assert azure.exposeConfig and azure.config["apiProvider"] == "Azure OpenAI"
    assert azure.secrets == {"apiKey": SECRET}
    assert s.preconfigured["local-llama"].config["defaultModel"] == "llama3"


# --- data directory ---------------------------------------------------------------


def test_ensure_home_persists_the_server_uuid(tmp_path: Path) -> None:
    first = _load(tmp_path)
    assert not first.home.exists()
    first.ensure_home()
    assert (first.home / "uuid").read_text().strip() == first.server_uuid
    assert _load(tmp_path).server_uuid == first.server_uuid
    first.ensure_home()  # idempotent


def test_a_corrupt_uuid_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "uuid").write_text("garbage\n")
    assert "server.uuid" in _error(tmp_path)


def test_the_fragment_in_the_docs_loads(tmp_path: Path) -> None:
    docs = Path(__file__).resolve().parents[1] / "docs" / "settings.md"
    text = docs.read_text("utf-8")
    fragment = text.split("## A kibana.yml fragment", 1)[1].split("```yaml\n", 1)[1]
    s = _load(tmp_path, fragment.split("```", 1)[0])
    assert set(s.preconfigured) == {"azure-gpt4o", "local-llama"}
    assert s.actions.responseTimeout == 120_000


# --- the layers (pydantic-settings sources) --------------------------------------------


def test_a_higher_layer_replaces_a_map_setting_whole(tmp_path: Path) -> None:
    yml = """
    xpack.actions.preconfigured: {a: {name: A, actionTypeId: .gen-ai}}
    xpack.actions.proxyHeaders: {X-From-File: "1"}
    xpack.actions.ssl.verificationMode: none
    """
    env = {
        "LLMRELAY__xpack__actions__preconfigured": '{"b": {"name": "B", "actionTypeId": "x"}}',
        "LLMRELAY__xpack__actions__ssl": '{"proxyVerificationMode": "certificate"}',
    }
    s = _load(tmp_path, yml, env=env, overrides={"xpack.actions.proxyHeaders": {"X-Cli": "2"}})
    assert set(s.preconfigured) == {"b"}
    assert s.actions.proxyHeaders == {"X-Cli": "2"}
    # a group (ssl) is not one setting: its members come from each layer
    assert (s.actions.ssl.verificationMode, s.actions.ssl.proxyVerificationMode) == (
        "none",
        "certificate",
    )


def test_a_bad_value_in_a_lower_layer_is_not_judged_when_a_higher_one_replaces_it(
    tmp_path: Path,
) -> None:
    s = _load(
        tmp_path,
        "llmrelay.defaultTimeout: soon\n",
        env={"LLMRELAY__llmrelay__defaultTimeout": "5s"},
    )
    assert s.actions.defaultTimeoutMs == 5_000


def test_overrides_cannot_reach_pydantic_settings_options(tmp_path: Path) -> None:
    message = _error(tmp_path, overrides={"_env_file": str(tmp_path / ".env")})
    assert message == "unknown setting override '_env_file'"


def test_settings_built_directly_read_no_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMRELAY_PORT", "5999")
    monkeypatch.setenv("LLMRELAY__xpack__actions__allowedHosts", "from-env")
    s = Settings(home=tmp_path, **{"xpack.actions.allowedHosts": ["direct"]})  # type: ignore[arg-type]
    assert (s.port, s.actions.allowedHosts, s.home) == (5601, ("direct",), tmp_path)
    assert load_settings(environ={}, overrides={"home": tmp_path}).port == 5601


def test_pydantic_settings_debug_log_shows_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PYDANTIC_SETTINGS_DEBUG", "1")
    with caplog.at_level(logging.DEBUG, logger="pydantic_settings"):
        _load(
            tmp_path,
            f"""
            xpack.actions.preconfigured:
              c1: {{name: One, actionTypeId: .gen-ai, secrets: {{apiKey: {SECRET}}}}}
            xpack.actions.proxyHeaders: {{Proxy-Authorization: "Basic hunter2hunter2"}}
            """,
            env={"LLMRELAY_ENCRYPTION_KEY": KEY, "LLMRELAY_ADMIN_PASSWORD": "pw-hunter3"},
        )
    for secret in (SECRET, "hunter2", KEY, "pw-hunter3"):
        assert secret not in caplog.text


def test_an_absurdly_long_duration_is_named(tmp_path: Path) -> None:
    message = _error(tmp_path, f"llmrelay.eventLog.retention: {'9' * 30}d\n")
    assert message.startswith("llmrelay.eventLog.retention: duration too long (settings file")


def test_prices_override_the_shipped_table(tmp_path: Path) -> None:
    s = _load(
        tmp_path,
        """
        llmrelay:
          prices:
            gpt-4o: {input_per_million: 2.25}
            llama-3.1-8b-instruct: {input_per_million: 0, output_per_million: 0}
            gpt-4: null
        """,
    )
    assert s.prices["gpt-4o"] == Price(Decimal("2.25"), Decimal("10.00"), Decimal("1.25"))
    assert s.prices["llama-3.1-8b-instruct"] == Price(Decimal(0), Decimal(0))
    assert "gpt-4" not in s.prices
    assert s.prices["gpt-4o-mini"] == DEFAULT_PRICES["gpt-4o-mini"]
    assert _load(tmp_path).prices == DEFAULT_PRICES
    price = '{"my-model": {"input_per_million": 1, "output_per_million": 2}}'
    env = {"LLMRELAY__LLMRELAY__PRICES": price}
    assert _load(tmp_path, env=env).prices["my-model"] == Price(Decimal(1), Decimal(2))


def test_a_bad_price_names_the_setting(tmp_path: Path) -> None:
    message = _error(tmp_path, "llmrelay.prices: {gpt-4o: {input_per_million: -1}}")
    assert "llmrelay.prices.gpt-4o.input_per_million: must be a finite number of at least 0" in (
        message
    )
    assert "llmrelay.prices.my-model.output_per_million: required" in _error(
        tmp_path, "llmrelay.prices: {my-model: {input_per_million: 1}}"
    )
