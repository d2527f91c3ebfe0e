"""``lab predict RUN [IMAGE ...] [--test-index N ...] [--top K] [--json] [--invert auto|yes|no]``."""

USES_TENSORFLOW = True
HELP = "classify image files (or the run's own test images) with a finished classifier run"
DESCRIPTION = """Classify pictures with the network of a finished `classifier` run and print the top-K classes.

  lab predict runs/<classifier-run> digit.png photo_of_a_7.jpg
  lab predict runs/<classifier-run> --test-index 17 --test-index 42 --top 5 --json

IMAGE: any picture Pillow reads (PNG, JPEG, GIF (first frame), BMP, WebP, TIFF, 16-bit, palette; transparent
parts go on white). It is made into what the network was trained on:
  digits (an MNIST run): grey; inverted when the background is light (--invert auto), so the digit is light
    on dark as in MNIST; the digit's bounding box padded to a square with the background, scaled to 20x20
    (aspect kept) and placed in 28x28 with its centre of mass at the centre, as MNIST was made
  photos (a CIFAR-10 run): RGB, the longer side fitted to 32 pixels, the rest padded by repeating the edges
What was done to each picture is said on stderr.

--test-index N: the run's own test image N (repeatable), shown with its true class; a wrong top-1 is
marked. --json prints one object: {"run", "predictions": [{"input", "kind", "label" (test images),
"top": [{"class", "name", "probability"}], "notes"}]}."""

INVERT = {"auto": "auto", "yes": True, "no": False}
MAX_IMAGE_BYTES = 100 * 2**20  # a picture file is read only up to 100 MiB (Pillow also refuses decompression bombs)


def add_arguments(p):
    p.add_argument("run", help="a run folder of the classifier task (runs/<time>-<name>)")
    p.add_argument("images", nargs="*", metavar="IMAGE", help="picture files to classify")
    p.add_argument("--test-index", type=int, action="append", default=[], metavar="N",
                   help="classify the run's test image N (repeatable)")
    p.add_argument("--top", type=int, default=3, metavar="K", help="how many classes to show (default 3)")
    p.add_argument("--json", action="store_true", help="print the predictions as JSON")
    p.add_argument("--invert", choices=tuple(INVERT), default="auto",
                   help="digits: invert light-background pictures (auto, the default), always (yes) or never (no)")
    _intermixed(p)


def _intermixed(parser):
    """Let image files come after options too (``lab predict RUN --top 5 a.png``): argparse alone matches the
    positionals once, in the first run of them, and calls the rest unrecognised. The `lab` parser calls this
    subparser's ``parse_known_args``; it is routed to ``parse_known_intermixed_args`` (which itself calls
    the plain one, restored meanwhile)."""
    plain = parser.parse_known_args

    def parse_known_args(args=None, namespace=None):
        parser.parse_known_args = plain
        try:
            return parser.parse_known_intermixed_args(args, namespace)
        finally:
            parser.parse_known_args = parse_known_args

    parser.parse_known_args = parse_known_args


def _check_image_file(path: str) -> None:
    """A picture must be a regular file of at most MAX_IMAGE_BYTES: a FIFO or a device (``/dev/zero``) would
    make the image reader wait or read for ever. (Missing files and folders are the image reader's to say.)"""
    import os
    import stat

    from lab.errors import UsageError

    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return  # missing, unreadable or a bad name: said by the image reader, with the file named
    if stat.S_ISDIR(st.st_mode):
        return
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{path}: not a regular file (a FIFO, a device or a socket); give a picture file")
    if st.st_size > MAX_IMAGE_BYTES:
        raise UsageError(f"{path}: {st.st_size / 2**20:,.0f} MiB; a picture file is read only up to "
                         f"{MAX_IMAGE_BYTES // 2**20} MiB")


def main(args) -> int:
    import json
    import sys

    from lab.errors import UsageError

    if not args.images and not args.test_index:
        raise UsageError("give at least one image file or --test-index N (e.g. `lab predict RUN digit.png` or "
                         "`lab predict RUN --test-index 0`)")
    import numpy as np

    from supervised.predict import Classifier, PredictError, prepare_image

    for path in args.images:  # before the run's network is loaded
        _check_image_file(path)
    clf = Classifier.open(args.run)
    inputs, pixels = [], []
    try:
        clf.check_top(args.top)
        for path in args.images:
            image, notes = prepare_image(path, clf.input_shape, INVERT[args.invert])
            inputs.append({"input": path, "kind": "file", "notes": notes})
            pixels.append(image)
        for index in args.test_index:
            image, label = clf.test_image(index)
            inputs.append({"input": f"test #{index}", "kind": "test", "index": index, "label": label, "notes": []})
            pixels.append(image)
    except PredictError as exc:  # the same complaint, worded with the option it came from
        flag = {"test index": "--test-index ", "top": "--top "}.get(exc.setting, "")
        raise UsageError(f"{flag}{exc.value}: {exc.detail}") from None
    probs = clf.predict(np.stack(pixels))
    for item, p in zip(inputs, probs, strict=True):
        item["top"] = [{"class": i, "name": name, "probability": round(prob, 6)}
                       for i, name, prob in clf.top(p, args.top)]
    for item in inputs:
        for note in item["notes"]:
            print(f"{item['input']}: {note}", file=sys.stderr)
    if args.json:
        keys = ("input", "kind", "index", "label", "top", "notes")
        predictions = [{k: item[k] for k in keys if k in item} for item in inputs]
        print(json.dumps({"run": str(clf.run.path), "predictions": predictions}, indent=2, ensure_ascii=False))
        return 0
    named = any(name != str(i) for i, name in enumerate(clf.classes))
    width = max(len(n) for n in clf.classes) if named else 0
    for n, item in enumerate(inputs):
        if n:
            print()
        header = item["input"]
        if item["kind"] == "test":
            header += f" (true: {clf.label(item['label'])})"
            if item["top"][0]["class"] != item["label"]:
                header += f"  ✗ wrong: top-1 is {clf.label(item['top'][0]['class'])}"
        print(header)
        for row in item["top"]:
            name = f"  {row['name']:<{width}}" if named else ""
            print(f"  {row['class']:>{len(str(clf.n_classes - 1))}}{name}  {100 * row['probability']:6.1f}%")
    return 0
