"""Grade the 03.2 MNIST solution (training included) once and print what it cost.

    .venv/bin/python benchmarks/bench_mnist.py [--mnist-source DIR] [--runs N] [--cpu]

Prints, per run: wall time, kernel start, the notebook's cells (training is most of it), the
checks (the notebook's three test cells, two of which load the saved model in the evaluator jail), the kernel's peak
memory and the device that evaluated the model.  Target: the solution's training budget fits
60 s on CPU.  On a machine with a GPU the notebook trains and is evaluated on it (03.2 has
``gpu = true``); ``--cpu`` grades without it, for the comparison on the same machine.  The
Keras backend is the grading environment's ``KERAS_BACKEND`` (default TensorFlow).
Without ``--mnist-source`` it uses ``../shared/data/mnist`` (the offline subset).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

from autograder import authored, config
from autograder.data import prepare_mnist
from autograder.run.notebook import auto_points, grade_notebook

ASSIGNMENT = "03.2_mnist_classifier"
REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist-source", type=Path, default=REPO.parent / "shared" / "data" / "mnist")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--cpu", action="store_true", help="grade without the GPU even where there is one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        sizes = prepare_mnist(data, args.mnist_source)
        print(f"data: {sizes}")
        cfg = config.load(REPO, data_dir=str(data))
        limits, settings = cfg.sandbox(ASSIGNMENT), cfg.settings(ASSIGNMENT)
        if args.cpu:
            limits, settings = replace(limits, gpu=False), {**settings, "gpu": False}
        checks, settings = authored.prepare(REPO / "source" / ASSIGNMENT, settings)  # the notebook's test cells
        points = auto_points(REPO / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
        files = {p.name: p.read_bytes() for p in (REPO / "release" / ASSIGNMENT).iterdir() if p.suffix != ".ipynb"}
        solution = REPO / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        print(f"{'run':>3} {'wall s':>7} {'kernel s':>8} {'cells s':>7} {'checks s':>8} {'peak MiB':>8}  score")
        for i in range(args.runs):
            start = time.monotonic()
            run = grade_notebook(solution, checks, points, limits, files, partial(authored.namespace, settings),
                                 settings)
            wall = time.monotonic() - start
            score = sum(r.points for r in run.results)
            t = run.timings
            print(f"{i + 1:>3} {wall:>7.1f} {t['kernel_start']:>8.1f} {t['cells']:>7.1f} {t['checks']:>8.1f} "
                  f"{run.peak_memory / 1024**2:>8.0f}  {score:g}/{sum(points.values()):g}")
            for result in run.results:
                print(f"      {result.item}: {result.status.value}, {result.message}")


if __name__ == "__main__":
    main()
