"""Where an epoch of training goes: the 200k-token corpus of `make bench`'s training rows,
trained for a few epochs with each step of the loop timed where it is called.

    .venv/bin/python benchmarks/train_profile.py [--epochs 3] [--threads 0] [--data DIR]

Prints, for the epochs but the first (which may compile), the mean seconds an epoch of: the
training kernel (`kernels.loss_and_grads`: forward, loss, BPTT and the dense gradients), the
scatter of Wax's gradient, the rest of `grad.loss_and_grads` (Python), the gradient norm, the
Adam step, making the batches (random draws and gathers), and what is left of the epoch. The
timers wrap the functions the training loop calls (a few microseconds a call), so the epoch is
that much slower than in `make bench`.
"""

import argparse
import os
import time
from collections import defaultdict

from bench_speed import ROOT, bench_trainer

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as nertag train has it


def timed(owner, name, label, seconds):
    """Replace owner.name by a wrapper adding each call's wall time to seconds[label]."""
    function = getattr(owner, name)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            seconds[label] += time.perf_counter() - start

    setattr(owner, name, wrapper)


def timed_batches(batches_class, seconds):
    """Time the making of each batch: the generator's own work between two yields."""
    epoch = batches_class.epoch

    def timed_epoch(self, rng):
        batches = epoch(self, rng)
        while True:
            start = time.perf_counter()
            try:
                batch = next(batches)
            except StopIteration:
                return
            finally:
                seconds["making batches"] += time.perf_counter() - start
            yield batch

    batches_class.epoch = timed_epoch


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="0: all cores")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    args = parser.parse_args()

    from nertag import _kernels as kernels
    from nertag import grad, training

    seconds = defaultdict(float)
    timed(kernels, "loss_and_grads", "kernel", seconds)
    timed(kernels, "scatter_wax_grad", "scatter", seconds)
    timed(grad, "loss_and_grads", "grad.loss_and_grads", seconds)
    timed(grad, "gradient_norm", "gradient norm", seconds)
    timed(grad.Adam, "update", "Adam", seconds)
    timed_batches(training._Batches, seconds)

    trainer, n_tokens = bench_trainer(args.data, args.epochs, args.threads)
    epochs = []
    for event in trainer.run():
        if event["event"] == "epoch":
            if event["epoch"] == 1:
                seconds.clear()
            else:
                epochs.append(event["seconds"])
    n = len(epochs)
    each = {label: total / n for label, total in seconds.items()}
    each["grad.loss_and_grads"] -= each["kernel"] + each["scatter"]  # its own Python
    epoch = sum(epochs) / n
    print(f"an epoch of {n_tokens:,} tokens, {args.threads or 'all'} threads, mean of {n}: "
          f"{epoch:.3f} s")
    for label in ("kernel", "scatter", "grad.loss_and_grads", "gradient norm", "Adam",
                  "making batches"):
        print(f"  {label:22s} {each[label]:.3f} s")
    print(f"  {'the rest':22s} {epoch - sum(each.values()):.3f} s")


if __name__ == "__main__":
    main()
