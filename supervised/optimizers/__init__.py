"""optimizers: Keras optimizers on Rosenbrock, Beale and a two-moons network."""
