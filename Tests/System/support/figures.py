"""The figures the system tests measure, printed at the end of the run."""


def _format(value):
    return f"{value:.2f}" if isinstance(value, float) else str(value)


class FigureBook:
    """Named figures per check, e.g. `durability: acked=1490 …`. record() prints
    the line at once (visible with -s); the terminal summary repeats them all."""

    def __init__(self):
        self.lines = {}

    def record(self, check, **figures):
        line = " ".join(f"{name}={_format(value)}" for name, value in figures.items())
        self.lines[check] = f"{self.lines[check]} {line}" if check in self.lines else line
        print(f"{check}: {line}")

    def summary(self):
        return [f"{check}: {line}" for check, line in self.lines.items()]


FIGURES = FigureBook()
