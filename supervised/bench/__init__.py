"""``lab bench``: matmul, conv2d and training-step speeds of the CPU and each GPU against their peaks (the
book's chapter 4, done properly). ``config`` imports no TensorFlow or Keras; ``model`` holds the maths (peaks,
FLOP counts, statistics) and the two small models whose training steps are timed; ``measure`` the devices
and the timed calls; ``train`` the runner; ``report`` the tables and the plot; ``serve`` what `lab bench`
reads back from a finished run."""
