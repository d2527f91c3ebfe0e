"""``lab predict``: pictures made into the network's input (MNIST's own preprocessing), a tiny classifier run
asked about its test digits and about image files, and every input it must refuse with a clear error."""

import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from supervised.classifier.serve import PredictError, centre_of_mass, prepare_image

MNIST10K = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "mnist10k.npz"


# --------------------------------------------------------------------------------------------------
# prepare_image on hand-made pictures (no TensorFlow)


def ink_mask(height=60, width=40) -> np.ndarray:
    """uint8 ink (255) of an off-centre, lopsided "7": a bar across the top and a stroke down the right."""
    m = np.zeros((height, width), np.uint8)
    m[8:14, 6:34] = 255
    m[8:52, 28:34] = 255
    return m


def test_black_digit_on_white_is_inverted_and_centred_by_mass(tmp_path):
    path = tmp_path / "seven.png"
    Image.fromarray(255 - ink_mask()).save(path)
    out, notes = prepare_image(path, (28, 28, 1))
    assert out.shape == (28, 28, 1) and out.dtype == np.float32
    assert any(n.startswith("inverted") for n in notes)
    assert out.max() == pytest.approx(255, abs=0.5) and out.min() >= 0
    assert out[0, :, 0].max() == 0 and out[:, 0, 0].max() == 0  # a black border, light ink, as in MNIST
    cy, cx = centre_of_mass(out[..., 0])
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1
    rows, cols = np.nonzero(out[..., 0].any(1))[0], np.nonzero(out[..., 0].any(0))[0]
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 <= 21  # the box fits 20 x 20 (+1 for resampling)
    assert rows[-1] - rows[0] > cols[-1] - cols[0]  # taller than wide: the aspect ratio is kept


def test_invert_settings_and_a_dark_background(tmp_path):
    light, dark = tmp_path / "light.png", tmp_path / "dark.png"
    Image.fromarray(255 - ink_mask()).save(light)
    Image.fromarray(ink_mask()).save(dark)
    auto_dark, notes = prepare_image(dark, (28, 28, 1))
    assert not any("inverted" in n for n in notes)
    np.testing.assert_allclose(prepare_image(light, (28, 28, 1))[0], auto_dark, atol=1e-3)
    kept, notes = prepare_image(light, (28, 28, 1), invert=False)
    assert any(n.startswith("not inverted (as asked)") for n in notes)
    # dark ink kept dark: nothing stands above the light background, so no digit is found (all black)
    assert kept.max() == 0 and any(n.startswith("no digit found") for n in notes)
    forced, notes = prepare_image(dark, (28, 28, 1), invert=True)
    assert "inverted (as asked)" in notes and forced.max() == 0  # light digit made dark: the same
    with pytest.raises(ValueError, match="invert"):
        prepare_image(dark, (28, 28, 1), invert="sometimes")


def test_every_picture_format_gives_the_same_digit(tmp_path):
    m = ink_mask()
    ref, _ = prepare_image(_save(tmp_path / "ref.png", Image.fromarray(255 - m)), (28, 28, 1))
    rgba = np.zeros((*m.shape, 4), np.uint8)
    rgba[..., 3] = m  # black ink on a transparent sheet
    animated = tmp_path / "anim.gif"
    Image.fromarray(255 - m).save(animated, save_all=True, append_images=[Image.fromarray(m)])
    pictures = {
        "gif": _save(tmp_path / "a.gif", Image.fromarray(255 - m)),
        "first frame": animated,
        "bmp": _save(tmp_path / "a.bmp", Image.fromarray(255 - m).convert("RGB")),
        "webp": _save(tmp_path / "a.webp", Image.fromarray(255 - m), lossless=True),
        "palette": _save(tmp_path / "p.png", Image.fromarray(255 - m).convert("P")),
        "16-bit": _save(tmp_path / "16.png", Image.fromarray((255 - m).astype(np.uint16) * 257)),
        "rgba": _save(tmp_path / "rgba.png", Image.fromarray(rgba)),
    }
    for what, path in pictures.items():
        out, notes = prepare_image(path, (28, 28, 1))
        assert np.abs(out - ref).max() < 2, what
    assert "the first of 2 frames" in prepare_image(animated, (28, 28, 1))[1]
    assert "16-bit grey scaled to 0-255" in prepare_image(pictures["16-bit"], (28, 28, 1))[1]
    assert "transparent parts put on white" in prepare_image(pictures["rgba"], (28, 28, 1))[1]


def test_a_photo_keeps_its_aspect_ratio(tmp_path):
    rgb = np.zeros((50, 100, 3), np.uint8)
    rgb[..., 0], rgb[:25, :, 2] = 200, 90  # red, its top half with some blue
    out, notes = prepare_image(_save(tmp_path / "wide.png", Image.fromarray(rgb)), (32, 32, 3))
    assert out.shape == (32, 32, 3) and out.dtype == np.float32
    assert "resized 100x50 to 32x16 (aspect kept)" in notes
    assert "padded to 32x32 by repeating the edge pixels" in notes
    np.testing.assert_allclose(out[0, :, 2], 90, atol=1)  # the top rows repeat the top edge
    np.testing.assert_allclose(out[-1, :, 2], 0, atol=1)
    np.testing.assert_allclose(out[..., 0], 200, atol=1)
    grey, notes = prepare_image(_save(tmp_path / "grey.png", Image.fromarray(rgb[..., 0])), (32, 32, 3))
    assert grey.shape == (32, 32, 3) and "grey repeated into RGB" in notes


def test_files_that_are_not_pictures(tmp_path):
    text = tmp_path / "x.png"
    text.write_text("not a picture\n")
    buf = io.BytesIO()
    Image.fromarray(ink_mask()).save(buf, "PNG")
    cut = tmp_path / "cut.png"
    cut.write_bytes(buf.getvalue()[:80])
    cases = {text: "not an image", tmp_path / "missing.png": "no such file", tmp_path: "is a folder",
             cut: "damaged or truncated"}
    for path, words in cases.items():
        with pytest.raises(PredictError, match=words) as info:
            prepare_image(path, (28, 28, 1))
        assert info.value.setting == "image file" and str(path) in str(info.value)


def test_the_bytes_of_a_file_and_an_array_of_pixels_give_what_the_file_gives(tmp_path):
    """What a web service receives (an upload, a drawing's pixels) is prepared as the file would be."""
    m = 255 - ink_mask()
    path = _save(tmp_path / "seven.png", Image.fromarray(m))
    ref, ref_notes = prepare_image(path, (28, 28, 1))
    from_bytes, notes = prepare_image(path.read_bytes(), (28, 28, 1))
    np.testing.assert_array_equal(from_bytes, ref)
    assert notes == ref_notes
    for pixels in (m, m[..., None], m.astype(np.float32), np.repeat(m[..., None], 3, -1)):
        out, _ = prepare_image(pixels, (28, 28, 1))
        assert np.abs(out - ref).max() < 2, pixels.shape
    rgba = np.zeros((*m.shape, 4), np.uint8)
    rgba[..., 3] = 255 - m  # black ink on a transparent sheet
    out, notes = prepare_image(rgba, (28, 28, 1))
    assert np.abs(out - ref).max() < 2 and "transparent parts put on white" in notes
    with pytest.raises(PredictError, match="damaged or truncated") as info:
        prepare_image(path.read_bytes()[:80], (28, 28, 1))
    assert info.value.setting == "image" and "(80 bytes)" in str(info.value)
    for bad in (np.zeros((4, 4, 2)), np.zeros(7), np.full((4, 4), np.nan), np.zeros((4, 4), bool)):
        with pytest.raises(PredictError) as info:
            prepare_image(bad, (28, 28, 1))
        assert info.value.setting == "image"


def _save(path, img, **kw):
    img.save(path, **kw)
    return path


# --------------------------------------------------------------------------------------------------
# The command, on a tiny classifier run made once


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    if not MNIST10K.exists():
        pytest.skip(f"{MNIST10K} is absent (the shared offline MNIST subset)")

    from lab.execute import execute

    tmp = tmp_path_factory.mktemp("predict")
    scenario = tmp / "s.yaml"
    scenario.write_text(f"""name: predict_tiny
task: classifier
seed: 1
strategy: cpu
data: {{dataset: mnist, path: {MNIST10K}, train_limit: 2000, test_limit: 200}}
model: {{kind: mlp, hidden: [64]}}
training: {{epochs: 2}}
""")
    return execute(str(scenario), out=str(tmp / "runs"), quiet=True).path


@pytest.fixture(scope="module")
def test_digits():
    data = np.load(MNIST10K)
    return data["x_test"][:200], data["y_test"][:200]


def predict(capsys, *args):
    from lab.cli import main

    rc = main(["predict", *map(str, args)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_test_index_prints_the_top_three(run_dir, capsys, test_digits):
    rc, out, err = predict(capsys, run_dir, "--test-index", 0, "--test-index", 17)
    assert rc == 0, err
    blocks = out.strip().split("\n\n")
    assert len(blocks) == 2
    for block, index in zip(blocks, (0, 17), strict=True):
        lines = block.splitlines()
        assert lines[0].startswith(f"test #{index} (true: {test_digits[1][index]})")
        assert len(lines) == 4 and all(re.fullmatch(r"  \d +\d+\.\d%", line) for line in lines[1:])
        shown = [float(line.split()[-1].rstrip("%")) for line in lines[1:]]
        assert shown == sorted(shown, reverse=True)
        wrong = lines[1].split()[0] != str(test_digits[1][index])
        assert ("✗ wrong" in lines[0]) == wrong


def test_json_structure(run_dir, capsys, test_digits):
    indices = list(range(20))
    rc, out, err = predict(capsys, run_dir, "--json", "--top", 4,
                           *[a for i in indices for a in ("--test-index", i)])
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["run"] == str(run_dir) and len(doc["predictions"]) == 20
    right = 0
    for p, i in zip(doc["predictions"], indices, strict=True):
        assert p["kind"] == "test" and p["input"] == f"test #{i}" and p["label"] == int(test_digits[1][i])
        probs = [t["probability"] for t in p["top"]]
        assert len(probs) == 4 and probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-6
        assert all(t["name"] == str(t["class"]) for t in p["top"]) and p["notes"] == []
        right += p["top"][0]["class"] == p["label"]
    assert right >= 12  # two epochs on 2,000 digits: well above chance


def test_serve_answers_in_plain_data_for_files_bytes_arrays_and_test_images(run_dir, test_digits, tmp_path):
    """What `lab predict` and a web service call: registry.serve("classifier"), plain data in and out."""
    from lab import registry

    serve = registry.serve("classifier")
    x, y = test_digits
    path = _save(tmp_path / "digit.png", Image.fromarray(x[3]))
    answer = serve.predict(run_dir, [path, path.read_bytes(), x[3]], [3], top=2)
    assert json.loads(json.dumps(answer)) == answer  # plain data all through
    assert answer["run"] == str(run_dir) and answer["classes"] == [str(d) for d in range(10)]
    file, upload, pixels, test = answer["predictions"]
    assert (file["kind"], upload["kind"], pixels["kind"], test["kind"]) == ("file", "image", "image", "test")
    assert file["input"] == str(path) and upload["input"] == "image #1" and pixels["input"] == "image #2"
    assert test["label"] == int(y[3]) and "label" not in file
    assert file["top"] == upload["top"] and len(file["top"]) == 2  # the same picture, read from its bytes
    assert [t["class"] for t in pixels["top"]] == [t["class"] for t in file["top"]]
    clf = serve.Classifier.open(run_dir)
    assert clf.classify() == [] and clf.predict(np.zeros((0, 28, 28, 1))).shape == (0, 10)
    with pytest.raises(serve.PredictError, match="give 1 to 10"):
        clf.classify(test_indices=[0], top=11)


def test_a_light_background_jpeg_of_a_test_digit(run_dir, capsys, test_digits, tmp_path):
    x, y = test_digits
    rc, out, _ = predict(capsys, run_dir, "--json", *[a for i in range(40) for a in ("--test-index", i)])
    preds = json.loads(out)["predictions"]
    sure = [i for i, p in enumerate(preds)
            if p["top"][0]["class"] == y[i] and p["top"][0]["probability"] > 0.8]
    assert sure, "the tiny model is confident about none of 40 test digits"
    index = sure[0]
    paper = Image.new("L", (130, 100), 250)  # a bigger, lighter sheet with the digit, dark ink, scaled x3
    paper.paste(Image.fromarray(255 - x[index]).resize((84, 84), Image.Resampling.BICUBIC), (25, 9))
    path = tmp_path / "digit.jpg"
    paper.convert("RGB").save(path, quality=85)
    rc, out, err = predict(capsys, run_dir, path, "--json")
    assert rc == 0, err
    (p,) = json.loads(out)["predictions"]
    assert p["kind"] == "file" and p["input"] == str(path) and "label" not in p
    assert any(n.startswith("inverted") for n in p["notes"])
    assert p["top"][0]["class"] == preds[index]["top"][0]["class"] == y[index]
    rc, out, err = predict(capsys, run_dir, "--top", 1, path)  # options before the file, too
    assert rc == 0 and out.splitlines()[0] == str(path) and len(out.splitlines()) == 2
    assert re.fullmatch(rf"  {y[index]} +\d+\.\d%", out.splitlines()[1])
    assert f"{path}: inverted" in err  # the notes go to stderr


def test_a_photo_sized_colour_png(run_dir, capsys, tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)).save(path)
    rc, out, err = predict(capsys, run_dir, path)
    assert rc == 0, err
    assert out.splitlines()[0] == str(path) and len(out.splitlines()) == 4
    assert f"{path}: converted 640x480 colour to grey" in err


def test_bad_inputs_exit_2_naming_them(run_dir, capsys, tmp_path):
    text = tmp_path / "x.png"
    text.write_text("hello\n")
    cases = [
        ((text,), f"error: {text}: not an image"),
        ((tmp_path / "missing.png",), f"error: {tmp_path / 'missing.png'}: no such file"),
        (("--test-index", 99999),
         "error: --test-index 99999: out of range: this run has 200 test images, give 0 to 199"),
        (("--test-index", -1), "error: --test-index -1: out of range"),
        (("--test-index", 0, "--top", 0), "error: --top 0: give 1 to 10"),
        (("--test-index", 0, "--top", 11), "error: --top 11: give 1 to 10"),
        ((), "error: give at least one image file or --test-index N"),
    ]
    for args, message in cases:
        rc, out, err = predict(capsys, run_dir, *args)
        assert rc == 2 and err.startswith(message) and out == "", (args, err)
        assert "Traceback" not in err


def test_runs_that_are_not_trained_classifiers(run_dir, capsys, tmp_path):
    from lab.runs import RunDir

    other = RunDir.create(tmp_path, "x", "autoencoder")
    other.scenario_path.write_text("name: x\ntask: autoencoder\n")
    rc, _, err = predict(capsys, other.path, "--test-index", 0)
    assert rc == 2 and "a autoencoder run, but lab predict needs a run of classifier" in err

    untrained = RunDir.create(tmp_path, "c", "classifier")
    untrained.scenario_path.write_text("name: c\ntask: classifier\n")
    rc, _, err = predict(capsys, untrained.path, "--test-index", 0)
    assert rc == 2 and "no trained classifier yet" in err

    rc, _, err = predict(capsys, tmp_path / "nowhere", "--test-index", 0)
    assert rc == 2 and "no such run folder" in err

    damaged = tmp_path / "damaged"
    shutil.copytree(run_dir, damaged)
    model = damaged / "artifacts" / "classifier.keras"
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    rc, _, err = predict(capsys, damaged, "--test-index", 0)
    assert (rc == 2 and f"error: {model}: " in err and "cannot load the model" in err and
            "Traceback" not in err)
