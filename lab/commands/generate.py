"""``lab generate RUN [--prompt TEXT] [--length N] [--temperature T] [--top-k K] [--seed S] [--json]``."""

USES_TENSORFLOW = True
HELP = "write text with a finished language-model run, streamed as it is sampled"
DESCRIPTION = """Sample text from the network of a finished `language-model` run; it is printed as it comes.

  lab generate runs/<lm-run> --prompt "ROMEO:" --length 400 --temperature 0.8
  lab generate runs/<lm-run> --prompt "the company said" --top-k 40 --seed 7 --json

The prompt is read first (printed as given), then --length tokens (characters or words) are drawn one at a
time from the network's distribution sharpened (temperature below 1) or flattened (above 1) by
--temperature, among the --top-k likeliest only when given. The same --seed gives the same text.

Characters the vocabulary of a character model lacks are an error that lists them; words a word model
lacks are read as <unk> (said on stderr). Word models write words with a space between them and <eos> as a new line.
--json prints one object when done: {"run", "prompt", "seed", "temperature", "top_k", "text",
"tokens": [{"token", "logprob"}], "mean_logprob"}; logprob is the token's natural log-probability under the
network itself (temperature 1, no top-k), whatever the sampling settings."""


def add_arguments(p):
    p.add_argument("run", help="a run folder of the language-model task (runs/<time>-<name>)")
    p.add_argument("--prompt", default=None, help="text to start from (default: the scenario's generate.prompt)")
    p.add_argument("--length", type=int, default=300, metavar="N", help="tokens to write (default 300)")
    p.add_argument("--temperature", type=float, default=0.8, metavar="T",
                   help="above 0; below 1 is more conservative, above 1 wilder (default 0.8)")
    p.add_argument("--top-k", type=int, default=None, metavar="K", help="draw only among the K likeliest tokens")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    p.add_argument("--json", action="store_true", help="print the text and each token's log-probability as JSON")


def check(args) -> None:
    import math

    from lab.errors import UsageError

    if not 1 <= args.length <= 1_000_000:
        raise UsageError(f"--length {args.length}: give 1 ... 1000000 tokens")
    if not (math.isfinite(args.temperature) and 0 < args.temperature <= 100):
        raise UsageError(f"--temperature {args.temperature:g}: give a number above 0 and at most 100 (e.g. 0.8)")
    if args.top_k is not None and args.top_k < 1:
        raise UsageError(f"--top-k {args.top_k}: give 1 or more (or leave it out to draw among all tokens)")
    if not 0 <= args.seed <= 2**32 - 1:
        raise UsageError(f"--seed {args.seed}: give 0 ... 4294967295")


def main(args) -> int:
    import json
    import sys

    from lab.errors import UsageError

    check(args)
    from supervised.language_model import generate, open_run

    run, sampler, meta = open_run(args.run)
    prompt = args.prompt if args.prompt is not None else str(meta.get("prompt", "\n"))
    if prompt == "":
        prompt = "\n"
    tokens, unknown = sampler.tokens_of(prompt)
    if unknown and meta["level"] == "chars":
        shown = ", ".join(repr(c) for c in unknown[:20]) + (" ..." if len(unknown) > 20 else "")
        raise UsageError(f"--prompt: {len(unknown)} character(s) the model never saw in training: {shown}; "
                         f"leave them out (the run's vocabulary: {run.artifacts / meta['vocabulary']})")
    if unknown:
        print(f"note: read as <unk>: {', '.join(unknown[:20])}{' ...' if len(unknown) > 20 else ''}", file=sys.stderr)
    if args.top_k is not None:
        args.top_k = min(args.top_k, len(sampler.vocab))
    ids = sampler.vocab.encode(tokens)
    out = [] if args.json else None
    if not args.json:
        print(prompt, end="", flush=True)
    for piece, token, logprob in generate(sampler, prompt, ids, args.length, args.temperature, args.top_k, args.seed):
        if out is None:
            print(piece, end="", flush=True)
        else:
            out.append((piece, sampler.vocab.token(token), logprob))
    if out is None:
        print()
        return 0
    text = "".join(p for p, _, _ in out)
    print(json.dumps({"run": str(run.path), "prompt": prompt, "seed": args.seed, "temperature": args.temperature,
                      "top_k": args.top_k, "text": text,
                      "tokens": [{"token": tok, "logprob": round(lp, 6)} for _, tok, lp in out],
                      "mean_logprob": sum(lp for _, _, lp in out) / len(out)}, indent=1, ensure_ascii=False))
    return 0
