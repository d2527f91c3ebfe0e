"""``lab recommend RUN (--user ID | --rate "Title=5, Title=4") [--top N] [--json]``."""

USES_TENSORFLOW = True
HELP = "top-N movies from a finished RBM run, for a user of its data or for a new person"
DESCRIPTION = """Recommend movies with the RBM of a finished `rbm` run.

  lab recommend runs/<rbm-run> --user 42
  lab recommend runs/<rbm-run> --rate "Toy Story=5, Heat=4, Usual Suspects, The=5" --top 5
  lab recommend runs/<rbm-run> --user 42 --json

Each pick shows its predicted rating and the person's own top-rated movies that most drove it
("because you rated ..."). Movies the person rated are never recommended. Titles in --rate are matched
forgivingly (case, accents, punctuation, "The" at either end, an optional "(year)")."""


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
    from generative.recommend import MAX_RATE_CHARS, Recommender, RecommendError

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
    if args.json:
        print(json.dumps({**person, "orientation": rec.orientation, "rank_by": rec.rank_by, "picks": rows}, indent=2,
                         ensure_ascii=False))
        return 0
    print(f"Top {len(rows)} for {who} from {rec.meta.get('dataset', r.name)}; ranked by "
          f"{rec.rank_by.replace('_', ' ')}:")
    if not rows:
        print("  (nothing left to recommend: every movie is rated)")
        return 0
    width = min(48, max(len(row["title"]) for row in rows))
    print(f"  {'#':>2}  {'title':<{width}}  {'year':>4}  {'predicted':>9}  {'genres':<28}  because you rated")
    for row in rows:
        title = row["title"] if len(row["title"]) <= width else row["title"][: width - 1] + "…"
        genres = ", ".join(row["genres"])
        genres = genres if len(genres) <= 28 else genres[:27] + "…"
        if rec.orientation == "user":
            why = "; ".join(f"{b['title']} {b['rating']:g} (+{b['effect']:.2f})" for b in row["because"])
        else:
            why = "; ".join(f"{b['title']} {b['rating']:g} (similar {b['effect']:.2f})" for b in row["because"])
        print(f"  {row['rank']:>2}  {title:<{width}}  {row['year'] or '':>4}  {row['predicted_rating']:>9.2f}  "
              f"{genres:<28}  {why or '—'}")
    return 0
