"""The producer refuses at start a camera id every worker would refuse (protocol.MAX_ID_LEN)."""
import pytest
from click.testing import CliRunner

from alpr.protocol import MAX_ID_LEN
from producer.cli import produce_cmd


@pytest.mark.parametrize("camera", ["c" * (MAX_ID_LEN + 1), ""])
def test_camera_id_too_long_or_empty_is_a_clear_start_error(redis_url, redis_client, tmp_path,
                                                            camera):
    result = CliRunner().invoke(produce_cmd, [str(tmp_path), "--redis-url", redis_url,
                                              "--camera", camera, "--frames", "1"])
    assert result.exit_code == 2, result.output
    assert "--camera" in result.output and str(MAX_ID_LEN) in result.output
    assert "Traceback" not in result.output
    assert redis_client.dbsize() == 0  # nothing produced
