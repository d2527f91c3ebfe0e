"""``lab predict RUN [IMAGE ...] [--test-index N ...] [--top K] [--json] [--invert auto|yes|no]``: parses,
asks the classifier task's serve module (:mod:`supervised.classifier.serve`) and prints."""

import json
import sys

from lab import registry
from lab.errors import UsageError

USES_TENSORFLOW = True
DESCRIPTION = """Classify pictures with the network of a finished `classifier` run and print the \
top-K classes.

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


def add_arguments(p):
    p.add_argument("run", help="a run folder of the classifier task (runs/<time>-<name>)")
    p.add_argument("images", nargs="*", metavar="IMAGE", help="picture files to classify")
    p.add_argument("--test-index", type=int, action="append", default=[], metavar="N",
                   help="classify the run's test image N (repeatable)")
    p.add_argument("--top", type=int, default=3, metavar="K", help="how many classes to show (default 3)")
    p.add_argument("--json", action="store_true", help="print the predictions as JSON")
    p.add_argument("--invert", choices=tuple(INVERT), default="auto",
                   help="digits: invert light-background pictures (auto, the default), always (yes) or never "
                        "(no)")
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


def main(args) -> int:
    if not args.images and not args.test_index:
        raise UsageError("give at least one image file or --test-index N (e.g. `lab predict RUN digit.png` "
                         "or `lab predict RUN --test-index 0`)")
    serve = registry.serve("classifier")
    try:
        answer = serve.predict(args.run, args.images, args.test_index, args.top, INVERT[args.invert])
    except serve.PredictError as exc:  # the same complaint, worded with the option it came from
        flag = {"test index": "--test-index ", "top": "--top "}.get(exc.setting, "")
        raise UsageError(f"{flag}{exc.value}: {exc.detail}") from None
    predictions = answer["predictions"]
    for item in predictions:
        for note in item["notes"]:
            print(f"{item['input']}: {note}", file=sys.stderr)
    if args.json:
        for item in predictions:
            item["top"] = [{**row, "probability": round(row["probability"], 6)} for row in item["top"]]
        print(json.dumps({"run": answer["run"], "predictions": predictions}, indent=2, ensure_ascii=False))
        return 0
    print_table(predictions, answer["classes"])
    return 0


def label(classes: list[str], index: int) -> str:
    """``"7"`` for a class named by its number, ``"3 cat"`` otherwise."""
    name = classes[index]
    return name if name == str(index) else f"{index} {name}"


def print_table(predictions: list[dict], classes: list[str]) -> None:
    named = any(name != str(i) for i, name in enumerate(classes))
    width = max(len(n) for n in classes) if named else 0
    digits = len(str(len(classes) - 1))
    for n, item in enumerate(predictions):
        if n:
            print()
        header = item["input"]
        if item["kind"] == "test":
            header += f" (true: {label(classes, item['label'])})"
            if item["top"][0]["class"] != item["label"]:
                header += f"  ✗ wrong: top-1 is {label(classes, item['top'][0]['class'])}"
        print(header)
        for row in item["top"]:
            name = f"  {row['name']:<{width}}" if named else ""
            print(f"  {row['class']:>{digits}}{name}  {100 * row['probability']:6.1f}%")
