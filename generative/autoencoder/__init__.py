"""The ``autoencoder`` task: the book's MNIST autoencoder beside a PCA baseline (config, model, train,
report).

Import the submodules you need; ``config`` never imports TensorFlow.
"""
