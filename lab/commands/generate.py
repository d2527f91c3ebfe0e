"""``lab generate RUN [--prompt TEXT] [--length N] [--temperature T] [--top-k K] [--seed S] [--json]``:
parses, asks the language-model task's serve module (:mod:`supervised.language_model.serve`) and prints."""

import json
import sys

from lab import registry
from lab.errors import UsageError

USES_TENSORFLOW = True
DESCRIPTION = """Sample text from the network of a finished `language-model` run; it is printed as it comes.

  lab generate runs/<lm-run> --prompt "ROMEO:" --length 400 --temperature 0.8
  lab generate runs/<lm-run> --prompt "the company said" --top-k 40 --seed 7 --json

The prompt is read first (printed as given), then --length tokens (characters or words) are drawn one at a
time from the network's distribution sharpened (temperature below 1) or flattened (above 1) by
--temperature, among the --top-k likeliest only when given. The same --seed gives the same text.

Characters the vocabulary of a character model lacks are an error that lists them; words a word model
lacks are read as <unk> (said on stderr). Word models write words with a space between them and \
<eos> as a new line.
--json prints one object when done: {"run", "prompt", "seed", "temperature", "top_k", "text",
"tokens": [{"token", "logprob"}], "mean_logprob"}; logprob is the token's natural log-probability under the
network itself (temperature 1, no top-k), whatever the sampling settings."""


def add_arguments(p):
    p.add_argument("run", help="a run folder of the language-model task (runs/<time>-<name>)")
    p.add_argument("--prompt", default=None,
                   help="text to start from (default: the scenario's generate.prompt)")
    p.add_argument("--length", type=int, default=300, metavar="N", help="tokens to write (default 300)")
    p.add_argument("--temperature", type=float, default=0.8, metavar="T",
                   help="above 0; below 1 is more conservative, above 1 wilder (default 0.8)")
    p.add_argument("--top-k", type=int, default=None, metavar="K",
                   help="draw only among the K likeliest tokens")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    p.add_argument("--json", action="store_true",
                   help="print the text and each token's log-probability as JSON")


def main(args) -> int:
    serve = registry.serve("language-model")
    try:
        serve.check_settings(args.length, args.temperature, args.top_k, args.seed)  # before the run is opened
        model = serve.TextModel.open(args.run)
        prompt = model.prompt(args.prompt)
    except serve.GenerateError as exc:  # the same complaint, worded with the option it came from
        raise UsageError(f"--prompt: {exc.detail}" if exc.setting == "prompt" else
                         f"--{exc.setting} {exc.value}: {exc.detail}") from None
    for note in prompt["notes"]:
        print(f"note: {note}", file=sys.stderr)
    settings = dict(length=args.length, temperature=args.temperature, top_k=args.top_k, seed=args.seed)
    if args.json:
        answer = model.write(prompt["text"], **settings)
        answer["tokens"] = [{**t, "logprob": round(t["logprob"], 6)} for t in answer["tokens"]]
        print(json.dumps(answer, indent=1, ensure_ascii=False))
        return 0
    print(prompt["text"], end="", flush=True)
    for piece in model.stream(prompt["text"], **settings):
        print(piece["text"], end="", flush=True)
    print()
    return 0
