"""The RBM recommender, task ``rbm``: ``config`` (the scenario, no TensorFlow), ``model`` (the RBM and the
maths: baselines, SVD, errors, ranking metrics, the blend), ``train`` (the runner), ``report``, ``serve``
(what ``lab recommend`` calls) and ``titles`` (forgiving title lookup, the ``Title=stars`` parser)."""
