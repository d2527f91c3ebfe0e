"""Named random streams: the same name, seed and keys give the same numbers; anything else differs."""

import numpy as np
import pytest

from lab.seeding import entropy, stream, stream_seed


def test_a_stream_depends_only_on_seed_name_and_keys():
    a = stream(1, "replay", 4).random(3)
    assert np.array_equal(a, stream(1, "replay", 4).random(3))
    for other in (stream(2, "replay", 4), stream(1, "replays", 4), stream(1, "replay", 5),
                  stream(1, "replay")):
        assert not np.array_equal(a, other.random(3))


def test_stream_seeds_are_31_bit_and_follow_the_stream():
    seeds = {stream_seed(0, "maze", k) for k in range(200)}
    assert len(seeds) == 200 and all(0 <= s < 2**31 for s in seeds)
    assert stream_seed(0, "maze", 3) == stream_seed(0, "maze", 3) != stream_seed(0, "mazes", 3)


def test_bad_names_and_keys_are_refused():
    with pytest.raises(ValueError, match="needs a name"):
        entropy(0, "")
    with pytest.raises(ValueError, match="keys are whole numbers >= 0"):
        stream(0, "x", -1)
