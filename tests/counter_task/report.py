"""The ``counter`` report: one section."""


def write_report(ctx, steps: int, total: float) -> None:
    ctx.report.text("Counting", f"counted to {steps}: the draws add up to {total:.4f}")
