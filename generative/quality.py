"""Sample quality measured by a small MNIST classifier.

The classifier (two convolutions of 32 and 64 filters, a 128-unit ``features`` layer, softmax over 10
digits) is trained on the run's training digits; its accuracy and the share of real test digits it
classifies confidently are reported beside the samples' figures as the reference. It scores a set of images by

- ``confident_share``: the share whose top class probability is at least a threshold (0.9);
- ``class_share_min`` / ``class_share_max``: the smallest and largest share of any predicted class (10% each
  for a perfectly balanced generator);
- ``frechet_distance``: the Fréchet distance between Gaussians fitted to the classifier's features of the
  images and of the real test digits (an FID computed with an MNIST network instead of Inception).
"""

from __future__ import annotations

import numpy as np

FEATURES_LAYER = "features"


def build_classifier():
    import keras
    from keras import layers

    inputs = keras.Input((784,), name="pixels")
    h = layers.Reshape((28, 28, 1))(inputs)
    h = layers.Conv2D(32, 3, activation="relu")(h)
    h = layers.MaxPooling2D()(h)
    h = layers.Conv2D(64, 3, activation="relu")(h)
    h = layers.MaxPooling2D()(h)
    h = layers.Flatten()(h)
    h = layers.Dense(128, activation="relu", name=FEATURES_LAYER)(h)
    h = layers.Dropout(0.3)(h)
    outputs = layers.Dense(10, activation="softmax", name="probabilities")(h)
    model = keras.Model(inputs, outputs, name="mnist_classifier")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def train_classifier(x: np.ndarray, y: np.ndarray, epochs: int, seed: int, batch_size: int = 64):
    """Train the scoring classifier on flat grey digits ``x`` (N, 784) with labels ``y``."""
    order = np.random.default_rng([seed, 777]).permutation(len(x))
    model = build_classifier()
    model.fit(x[order], y[order], batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0)
    return model


def predict(classifier, x: np.ndarray, batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """(class probabilities (N, 10), features (N, 128)) of flat images in [0, 1]."""
    import keras

    both = keras.Model(classifier.input, [classifier.output, classifier.get_layer(FEATURES_LAYER).output])
    probs, feats = [], []
    for i in range(0, len(x), batch_size):
        p, f = both(x[i:i + batch_size], training=False)
        probs.append(keras.ops.convert_to_numpy(p))
        feats.append(keras.ops.convert_to_numpy(f))
    return np.concatenate(probs), np.concatenate(feats).astype(np.float64)


def _sqrtm_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(f1: np.ndarray, f2: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (rows are samples).

    ``|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)``; numpy only (symmetric square roots).
    """
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    r1 = _sqrtm_psd(s1)
    cross = np.linalg.eigvalsh((r1 @ s2 @ r1 + (r1 @ s2 @ r1).T) / 2)
    value = float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.sum(np.sqrt(np.clip(cross, 0, None))))
    return max(value, 0.0)


def score(probs: np.ndarray, feats: np.ndarray, reference_feats: np.ndarray, confidence: float = 0.9) -> dict:
    """The three quality figures of a set of images (see the module docstring), plus the class shares."""
    shares = np.bincount(probs.argmax(1), minlength=10) / len(probs)
    return {
        "confident_share": float(np.mean(probs.max(1) >= confidence)),
        "class_share_min": float(shares.min()),
        "class_share_max": float(shares.max()),
        "frechet_distance": frechet_distance(feats, reference_feats),
        "class_shares": shares.tolist(),
    }
