"""``lab recommend RUN (--user ID | --rate "Title=5, Title=4") [--top N] [--json]``."""

USES_TENSORFLOW = True
HELP = "top-N movies from a finished RBM run, for a user of its data or for a new person"
DESCRIPTION = """Recommend movies with the RBM of a finished `rbm` run.

  lab recommend runs/<rbm-run> --user 42
  lab recommend runs/<rbm-run> --rate "Toy Story=5, Heat=4, Usual Suspects, The=5" --top 5
  lab recommend runs/<rbm-run> --user 42 --json

The list comes from the model that ranked best in the run (the RBM, popularity or the item biases:
its report says which). Each pick shows the predicted rating of the run's better predictor (the RBM, or
its blend with an SVD or the biases where the run blends and the blend's RMSE was lower) split in two:
the movie's general appeal (the average rating plus the movie's bias, fitted on the run's training
ratings) and what the person's ratings add or take away. A rating of theirs is named ("because you rated ...") only when it
moves the prediction by 0.1 star or more; otherwise the line says whether the pick is mostly general
appeal. Movies the person rated are never recommended. Titles in --rate are matched forgivingly (case,
accents, punctuation, "The" at either end, an optional "(year)")."""


def add_arguments(p):
    p.add_argument("run", help="a run folder of the rbm task (runs/<time>-<name>)")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", metavar="ID", help="a user id of the run's data")
    who.add_argument("--rate", metavar="RATINGS", help='a new person\'s ratings: "Title=5, Title=4"')
    p.add_argument("--top", type=int, default=10, metavar="N", help="how many movies (default 10)")
    p.add_argument("--json", action="store_true", help="print the picks as JSON")


def main(args) -> int:
    import json

    from lab.errors import UsageError

    if args.top < 1:
        raise UsageError(f"--top {args.top}: give a number of movies >= 1")
    from generative.recommend import MAX_RATE_CHARS, VISIBLE, Recommender, RecommendError

    # Checked before the run is opened (and TensorFlow loads a model): a mistake is reported at once.
    if args.rate is not None and len(args.rate) > MAX_RATE_CHARS:
        raise UsageError(f"--rate: {len(args.rate):,} characters; give at most {MAX_RATE_CHARS:,} (a few hundred "
                         "ratings)")
    if args.user is not None and len(args.user) > 40:
        raise UsageError(f"--user: {len(args.user):,} characters; a user id is a whole number of the run's data")

    rec = Recommender.open(args.run)
    r = rec.ratings
    flag = "--user" if args.user is not None else "--rate"
    try:
        if args.user is not None:
            u, picks = rec.for_user(args.user, args.top)
        else:
            (items, values), picks = rec.for_ratings(args.rate, args.top)
    except RecommendError as exc:  # the same complaint, worded with the option it came from
        raise UsageError(f"{flag}: {exc}") from None
    if args.user is not None:
        items, values = rec.user_ratings(u)
        who = f"user {int(r.user_ids[u])} ({len(items)} ratings)"
        person = {"user": int(r.user_ids[u]), "n_ratings": int(len(items))}
    else:
        who = "you (" + ", ".join(f"{r.display_title(i)}={v:g}" for i, v in zip(items, values, strict=True)) + ")"
        person = {"rated": [{"item_id": int(r.item_ids[i]), "title": r.display_title(i), "rating": float(v)}
                            for i, v in zip(items, values, strict=True)]}
    rows = rec.rows(picks)
    ranked_by = {"rbm": rec.rank_by.replace("_", " ") + " (the RBM)", "popularity": "popularity",
                 "bias": "the movies' biases"}[rec.ranking_model]
    if args.json:
        print(json.dumps({**person, "orientation": rec.orientation, "rank_by": rec.rank_by,
                          "ranking_model": rec.ranking_model, "prediction_model": rec.prediction_model,
                          **({"blend": rec.meta["blend"]} if rec.partner is not None else {}),
                          "visible_effect": VISIBLE, "picks": rows}, indent=2, ensure_ascii=False))
        return 0
    best = "" if rec.ranking_model == "rbm" else ", this run's best ranking"
    partner = None if rec.partner is None else "SVD" if rec.partner.kind == "svd" else "biases"
    if partner is not None:
        w = rec.partner.weights
        predictor = (f"predicted by the RBM blended with the {partner} ({w[0]:+.2f} + {w[1]:.2f} x RBM + {w[2]:.2f} x "
                     f"{partner}), this run's better predictor")
    else:
        predictor = "predicted by the RBM"
    print(f"Top {len(rows)} for {who} from {rec.meta.get('dataset', r.name)}; ranked by {ranked_by}{best}; "
          f"{predictor}:")
    if not rows:
        print("  (nothing left to recommend: every movie is rated)")
        return 0
    width = min(48, max(len(row["title"]) for row in rows))
    print(f"  {'#':>2}  {'title':<{width}}  {'year':>4}  {'predicted':>9} = {'appeal':>6} {'+ you':>6}  why")
    for row in rows:
        title = row["title"] if len(row["title"]) <= width else row["title"][: width - 1] + "…"
        print(f"  {row['rank']:>2}  {title:<{width}}  {row['year'] or '':>4}  {row['predicted_rating']:>9.2f} = "
              f"{row['general_appeal']:>6.2f} {row['from_your_ratings']:>+6.2f}  {row['why']}")
    how = ("leaving it out of the RBM's input" if rec.orientation == "user"
           else "leaving it out of the fit of your weights (first-order estimate)")
    if partner is not None:
        how += f" and out of the {partner}'s fit of your factors (exact)"
    model = "the blend's" if partner is not None else "the RBM's"
    print(f"appeal: the average rating {rec.mu:.2f} plus the movie's bias (user + item biases fitted on the run's "
          f"training ratings); you: the rest of {model} prediction, from your ratings (how generously you rate "
          f"among it). A rating is named when "
          f"{how} lowers the prediction by {VISIBLE:g} star or more.")
    return 0
