"""The ``counter`` scenario: how far to count, and where a test may press Ctrl-C."""

from pydantic import Field

from lab.schema import Scenario, Section, Supports


class CounterConfig(Section):
    steps: int = Field(10, ge=1, le=1_000_000, description="How far to count.")
    interrupt_at: int = Field(-1, ge=-1,
                              description="Raise KeyboardInterrupt at this step on a fresh run (-1: never).")


class CounterScenario(Scenario):
    supports = Supports(strategies=("auto", "cpu", "gpu"), why="it counts in plain Python on one device")
    counter: CounterConfig = Field(default_factory=CounterConfig, description="The counting.")
