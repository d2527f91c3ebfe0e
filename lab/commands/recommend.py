"""``lab recommend RUN (--user ID | --rate "Title=5, Title=4") [--top N] [--json]``."""

from __future__ import annotations

import json

from lab import registry
from lab.errors import UsageError

USES_TENSORFLOW = True
DESCRIPTION = """Recommend movies with the RBM of a finished `rbm` run.

  lab recommend runs/<rbm-run> --user 42
  lab recommend runs/<rbm-run> --rate "Toy Story=5, Heat=4, Usual Suspects, The=5" --top 5
  lab recommend runs/<rbm-run> --user 42 --json

The list comes from the model that ranked best in the run (the RBM, popularity or the item biases:
its report says which). Each pick shows the predicted rating of the run's better predictor (the RBM, or
its blend with an SVD or the biases where the run blends and the blend's RMSE was lower) split in two:
the movie's general appeal (the average rating plus the movie's bias, fitted on the run's training
ratings) and what the person's ratings add or take away. A rating of theirs is named ("because you \
rated ...") only when it
moves the prediction by 0.1 star or more; otherwise the line says whether the pick is mostly general
appeal. Movies the person rated are never recommended. Titles in --rate are matched forgivingly (case,
accents, punctuation, "The" at either end, an optional "(year)")."""

RANKED_BY = {"popularity": "popularity", "bias": "the movies' biases"}  # and the RBM: by its top-N score
PARTNER = {"svd": "SVD", "biases": "biases"}


def add_arguments(p):
    p.add_argument("run", help="a run folder of the rbm task (runs/<time>-<name>)")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", metavar="ID", help="a user id of the run's data")
    who.add_argument("--rate", metavar="RATINGS", help='a new person\'s ratings: "Title=5, Title=4"')
    p.add_argument("--top", type=int, default=10, metavar="N", help="how many movies (default 10)")
    p.add_argument("--json", action="store_true", help="print the picks as JSON")


def main(args) -> int:
    if args.top < 1:
        raise UsageError(f"--top {args.top}: give a number of movies >= 1")
    serve = registry.serve("rbm")
    flag = "--user" if args.user is not None else "--rate"
    try:  # a complaint about the person or the ratings is worded with the option it came from
        serve.check_request(user=args.user, rate=args.rate)  # before the run is opened
        rec = serve.open_run(args.run)
        if args.user is not None:
            answer = serve.recommend_for_user(rec, args.user, args.top)
        else:
            answer = serve.recommend_for_ratings(rec, args.rate, args.top)
    except serve.RecommendError as exc:
        raise UsageError(f"{flag}: {exc}") from None
    if args.json:
        print(json.dumps(answer, indent=2, ensure_ascii=False))
        return 0
    print(heading(answer))
    if not answer["picks"]:
        print("  (nothing left to recommend: every movie is rated)")
        return 0
    for line in table(answer["picks"]):
        print(line)
    print(footnote(answer))
    return 0


def heading(answer: dict) -> str:
    if "user" in answer:
        who = f"user {answer['user']} ({answer['n_ratings']} ratings)"
    else:
        who = "you (" + ", ".join(f"{m['title']}={m['rating']:g}" for m in answer["rated"]) + ")"
    ranker = answer["ranking_model"]
    ranked_by = RANKED_BY.get(ranker) or answer["rank_by"].replace("_", " ") + " (the RBM)"
    best = "" if ranker == "rbm" else ", this run's best ranking"
    blend = answer.get("blend")
    if blend is not None:
        w, partner = blend["weights"], PARTNER[blend["partner"]]
        predictor = (f"predicted by the RBM blended with the {partner} ({w[0]:+.2f} + {w[1]:.2f} x RBM + "
                     f"{w[2]:.2f} x {partner}), this run's better predictor")
    else:
        predictor = "predicted by the RBM"
    return (f"Top {len(answer['picks'])} for {who} from {answer['dataset']}; ranked by {ranked_by}{best}; "
            f"{predictor}:")


def table(rows: list[dict]) -> list[str]:
    width = min(48, max(len(row["title"]) for row in rows))
    lines = [f"  {'#':>2}  {'title':<{width}}  {'year':>4}  {'predicted':>9} = {'appeal':>6} {'+ you':>6}  "
             f"why"]
    for row in rows:
        title = row["title"] if len(row["title"]) <= width else row["title"][: width - 1] + "…"
        lines.append(f"  {row['rank']:>2}  {title:<{width}}  {row['year'] or '':>4}  "
                     f"{row['predicted_rating']:>9.2f} = {row['general_appeal']:>6.2f} "
                     f"{row['from_your_ratings']:>+6.2f}  {row['why']}")
    return lines


def footnote(answer: dict) -> str:
    how = ("leaving it out of the RBM's input" if answer["orientation"] == "user"
           else "leaving it out of the fit of your weights (first-order estimate)")
    blend = answer.get("blend")
    if blend is not None:
        how += f" and out of the {PARTNER[blend['partner']]}'s fit of your factors (exact)"
    model = "the blend's" if blend is not None else "the RBM's"
    return (f"appeal: the average rating {answer['average_rating']:.2f} plus the movie's bias (user + item "
            f"biases fitted on the run's training ratings); you: the rest of {model} prediction, from your "
            f"ratings (how generously you rate among it). A rating is named when {how} lowers the prediction "
            f"by {answer['visible_effect']:g} star or more.")
