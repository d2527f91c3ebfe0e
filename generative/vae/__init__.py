"""The ``vae`` task: a variational autoencoder on binarised MNIST (config, model, train, report, serve).

Import the submodules you need; ``config`` never imports TensorFlow.
"""
