"""Settings precedence: flags > ALPR_* env > YAML file > defaults."""
import pytest

from alpr import defaults
from alpr.errors import ConfigError
from alpr.settings import Settings, redact_url


def test_defaults_come_from_defaults_module():
    s = Settings.load(env={})
    assert s.max_frame_age_s == defaults.MAX_FRAME_AGE_S
    assert s.redis_url == defaults.REDIS_URL


def test_precedence_file_env_flags(tmp_path):
    cfg = tmp_path / "alpr.yml"
    cfg.write_text("inflight_cap: 3\nmax_frame_age_s: 2.5\ncamera: filecam\nwebhooks: [http://a]\n")
    env = {"ALPR_INFLIGHT_CAP": "5", "ALPR_TRT_FP16": "false", "ALPR_PROVIDERS": "A,B"}
    s = Settings.load(str(cfg), env=env, overrides={"camera": "flagcam", "inflight_cap": None})
    assert s.max_frame_age_s == 2.5  # file
    assert s.inflight_cap == 5  # env beats file; None flag does not override
    assert s.camera == "flagcam"  # flag beats file
    assert s.trt_fp16 is False
    assert s.providers == ["A", "B"]
    assert s.webhooks == ["http://a"]


def test_config_file_from_env(tmp_path):
    cfg = tmp_path / "c.yml"
    cfg.write_text("camera: fromfile\n")
    assert Settings.load(env={"ALPR_CONFIG": str(cfg)}).camera == "fromfile"


def test_bad_values_raise_config_error(tmp_path):
    with pytest.raises(ConfigError):
        Settings.load(env={"ALPR_INFLIGHT_CAP": "many"})
    with pytest.raises(ConfigError):
        Settings.load(env={}, overrides={"no_such_setting": 1})
    bad = tmp_path / "bad.yml"
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError):
        Settings.load(str(bad), env={})


def test_redaction_hides_credentials():
    s = Settings.load(env={}, overrides={"redis_url": "rediss://user:s3cret@host:6380/0"})
    assert "s3cret" not in str(s.redacted())
    assert redact_url("redis://h:1/0") == "redis://h:1/0"
