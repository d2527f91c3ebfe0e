"""`lab sweep`: tune any scenario with an Optuna study.

``space`` reads the search space and the sweep's settings (no Optuna, no TensorFlow), ``study`` runs
trials as ordinary run folders of the study's sweep folder (Optuna imported there), ``report`` writes
what a finished study found. The sweep folder::

    runs/<UTC time>-<name>-sweep/
        sweep.json          the settings (`lab sweep --resume` reads them)
        study.db            the SQLite study (unless --storage names another database)
        trial-000/ ...      one run folder per trial, with its resolved scenario
        best.yaml           the best trial's scenario, ready for `lab run`
        report.md, summary.json, artifacts/*.png
"""
