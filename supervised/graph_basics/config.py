"""The ``graph-basics`` scenario: the values of the book's chapter-1 programs (no TensorFlow imported
here)."""

from __future__ import annotations

from pydantic import Field, model_validator

from lab.schema import Scenario, Section, Supports


class GraphConfig(Section):
    x: float = Field(2.0, description="First scalar of the chapter-1 addition (x + y).")
    y: float = Field(2.5, description="Second scalar of the chapter-1 addition (x + y).")
    weights: list[list[float]] = Field([[0.9, 0.7], [0.4, 0.2]],
                                       description="Matrix W of W.x and W.x + b.")
    vector: list[float] = Field([5.0, 7.0], description="Vector x of W.x and W.x + b.")
    bias: float = Field(3.0, description="Scalar b added in W.x + b.")

    @model_validator(mode="after")
    def _shapes_agree(self):
        widths = {len(row) for row in self.weights}
        if not self.weights or widths == {0}:
            raise ValueError("weights must be a non-empty matrix (a list of rows)")
        if len(widths) != 1:
            raise ValueError(f"weights must be rectangular: its rows have {sorted(widths)} entries")
        (cols,) = widths
        if cols != len(self.vector):
            raise ValueError(f"W.x needs as many entries in vector ({len(self.vector)}) as columns in "
                             f"weights ({cols})")
        return self


class GraphBasicsScenario(Scenario):
    supports = Supports(strategies=("auto", "cpu", "gpu"), xla="never",
                        why="a handful of tiny graphs evaluated once, on one device",
                        xla_why="the graphs are tiny: compiling them costs more than running them")
    graph: GraphConfig = Field(default_factory=GraphConfig,
                               description="The values of the chapter-1 programs.")
