"""The maze DQN from pixels: a cnn whose first convolution reads one tile per patch learns a small maze from
the rendered frames; settings that cannot work on frames are refused with the fix."""

import pytest
import yaml
from test_dqn_task import TINY

from lab import scenario
from lab.errors import ScenarioError
from lab.execute import execute

PIXELS = {**TINY, "name": "tiny-pixels",
          "env": {**TINY["env"], "observation": "pixels", "pixel_tile": 2, "obs_dtype": "float32"},
          "agent": {**TINY["agent"], "network": {"kind": "cnn", "conv_filters": [8], "hidden": [32, 32]}}}


def check(data):
    return scenario.validate(data, "pixels.yaml")


def test_a_small_maze_is_learned_from_pixels(tmp_path):
    path = tmp_path / "pixels.yaml"
    path.write_text(yaml.safe_dump(PIXELS))
    run = execute(str(path), out=str(tmp_path / "runs"), quiet=True)
    s = run.summary()
    assert s["eval_success_rate"] == 1.0 and s["eval_path_ratio"] == 1.0, s
    assert s["stop_reason"].startswith("perfect")
    resolved = yaml.safe_load(run.scenario_path.read_text())
    assert resolved["agent"]["network"]["patch"] == 2  # one tile per patch, written down in the run


def test_the_patch_defaults_to_the_tile_and_must_divide_it():
    assert check(PIXELS).agent.network.patch == 2
    bad = {**PIXELS, "env": {**PIXELS["env"], "pixel_tile": 3},
           "agent": {**PIXELS["agent"], "network": {"kind": "cnn", "patch": 2}}}
    with pytest.raises(ScenarioError, match="patch 2 does not divide env.pixel_tile 3"):
        check(bad)


@pytest.mark.parametrize("network,message", [
    ({"kind": "vin", "patch": 1}, "a vin on pixels reads one tile per patch: set agent.network.patch to "
                                  "env.pixel_tile"),
    ({"kind": "mlp", "patch": 2}, "agent.network.patch is for a cnn or a vin on pixels"),
])
def test_networks_that_cannot_read_frames_are_refused_with_the_fix(network, message):
    data = {**PIXELS, "agent": {**PIXELS["agent"], "network": network}}
    if network["kind"] == "vin":
        data["agent"] = {**data["agent"], "n_step": 1}
    with pytest.raises(ScenarioError, match=message):
        check(data)
