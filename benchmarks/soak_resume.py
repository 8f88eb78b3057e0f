"""Soak test of exact resume: N real SIGKILLs at uniform random times, each followed by a resume.

For each scenario (a synthetic run; a generated JPEG ImageFolder with the paper's augmentation
and 2 DataLoader workers) it trains once uninterrupted, then N times: start the same run, kill
it with SIGKILL at a time drawn uniformly over the uninterrupted run's training time, counted
from its first step (so some kills land in checkpoint writes, evaluations, or before the first
checkpoint), resume it to the end, and compare
the final weights, optimizer state and metrics with the uninterrupted run, bit for bit. The
trainer reports every finished step to a file, so the steps lost per kill are exact. Every file
operation of a checkpoint write is slowed by SLOW_WRITE_S, so that a good share of the kills land
inside writes (a kill time after the run's end is drawn again).

Targets: N/N bit-identical; steps lost ≤ ``optim.checkpoint_every``.

    python benchmarks/soak_resume.py            # 20 kills per scenario (about 10 min on 2 cores)
    python benchmarks/soak_resume.py --kills 5 --scenario synthetic
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

CHECKPOINT_EVERY = 3
SLOW_WRITE_S = 0.015  # pause before each file operation of a checkpoint write
TIMING = {"images_per_s", "epoch_seconds"}

# Trains with the given overrides; writes each finished step to STEP_FILE (the step lost count).
DRIVER = """
import os, sys
from infovit.errors import RunInterrupted
from infovit.training import load_config, train
import time
import infovit.training.run as run_module
out, step_file, resume, slow, *overrides = sys.argv[1:]
write_unit = run_module.write_unit
def slow_write(*args, hook=None, **kwargs):  # widen the write window so that kills land in it
    return write_unit(*args, hook=lambda op: time.sleep(float(slow)), **kwargs)
run_module.write_unit = slow_write
fd = os.open(step_file, os.O_WRONLY | os.O_CREAT, 0o644)
def report(step):
    os.pwrite(fd, f"{step:12d}".encode(), 0)
if resume == "1":
    train(None, out, resume=True, progress=False, on_step=report)
else:
    train(load_config(None, overrides), out, progress=False, on_step=report)
"""

MODEL = [
    "--model.depth", "2", "--model.embed_dim", "32", "--model.num_heads", "2",
    "--model.bottleneck.rank", "4", "--model.bottleneck.hidden", "8",
    "--optim.warmup_epochs", "1", "--optim.device", "cpu", "--beta.value", "1.0",
    "--beta.warmup_epochs", "1", "--optim.checkpoint_every", str(CHECKPOINT_EVERY),
]  # fmt: skip


def scenarios(root: Path) -> dict[str, list[str]]:
    jpegs = root / "jpegs"
    rng = np.random.default_rng(0)
    for split, count in (("train", 24), ("val", 4)):
        for c in range(4):
            folder = jpegs / split / f"class{c}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                pixels = np.clip(rng.normal(60 * c + 40, 50, size=(16, 16, 3)), 0, 255)
                Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{i}.jpg")
    return {
        "synthetic": [*MODEL, "--data.spec", "synthetic:grid=4,n_train=512,n_val=64",
                      "--data.batch_size", "32", "--optim.epochs", "3"],
        "jpeg+2 workers": [*MODEL, "--data.spec", f"imagefolder:{jpegs}", "--data.augment",
                           "paper", "--data.workers", "2", "--data.batch_size", "8",
                           "--model.img_size", "16", "--model.patch_size", "4",
                           "--optim.epochs", "3"],
    }  # fmt: skip


def launch(out: Path, step_file: Path, overrides: list[str], resume: bool) -> subprocess.Popen:
    args = [sys.executable, "-c", DRIVER, str(out), str(step_file), "1" if resume else "0"]
    args.append(str(SLOW_WRITE_S))
    return subprocess.Popen(
        [*args, *overrides], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def first_step(proc: subprocess.Popen, step_file: Path) -> float:
    """Wait until the trainer has finished its first step (start-up times vary a lot)."""
    while proc.poll() is None and not step_file.read_text().strip():
        time.sleep(0.005)
    return time.monotonic()


def final_state(out: Path) -> dict:
    from infovit.training import RunFolder

    run = RunFolder(out)
    last = run.checkpoint("last")
    state = last.state()
    return {
        "step": last.step,
        "weights": last.tensors(),
        "optimizer": [v for s in state["optimizer"]["state"].values() for v in s.values()],
        "rng": state["rng_cpu"],
        "metrics": [{k: v for k, v in r.items() if k not in TIMING} for r in run.read_metrics()],
    }


def same(a: dict, b: dict) -> bool:
    return (
        a["step"] == b["step"]
        and a["metrics"] == b["metrics"]
        and all(torch.equal(a["weights"][k], b["weights"][k]) for k in a["weights"])
        and all(torch.equal(x, y) for x, y in zip(a["optimizer"], b["optimizer"], strict=True))
        and torch.equal(a["rng"], b["rng"])
    )


def soak(name: str, overrides: list[str], kills: int, root: Path, rng: random.Random) -> None:
    from infovit.training import RunFolder

    ref_out, step_file = root / f"{name}-ref", root / "steps"
    step_file.write_text("")
    proc = launch(ref_out, step_file, overrides, resume=False)
    t0 = first_step(proc, step_file)
    if proc.wait() != 0:
        raise SystemExit(f"{name}: the uninterrupted run failed:\n{proc.stderr.read()}")
    duration = time.monotonic() - t0  # training time: from the first step to the end
    reference = final_state(ref_out)
    identical, lost, in_write, before_first, late = 0, [], 0, 0, 0
    k = 0
    while k < kills:
        out = root / f"{name}-{k}"
        step_file.write_text("")
        proc = launch(out, step_file, overrides, resume=False)
        first_step(proc, step_file)
        time.sleep(rng.uniform(0, duration))
        if proc.poll() is not None:  # this run was faster than the reference: draw again
            late += 1
            shutil.rmtree(out, ignore_errors=True)
            continue
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        k += 1
        reached = int(step_file.read_text() or 0)
        ckpts = out / "checkpoints"
        if ckpts.is_dir() and any(p.name.endswith(".tmp") for p in ckpts.iterdir()):
            in_write += 1
        run = RunFolder(out)
        if run.config_path.is_file() and run.has_checkpoint("last"):
            lost.append(reached - run.checkpoint("last").step)
            proc = launch(out, step_file, overrides, resume=True)
        else:  # killed before the first checkpoint: start again, as the message says
            before_first += 1
            lost.append(reached)
            shutil.rmtree(out, ignore_errors=True)
            proc = launch(out, step_file, overrides, resume=False)
        if proc.wait() != 0:
            print(f"  kill {k}: the resume failed: {proc.stderr.read().strip()}")
            shutil.rmtree(out, ignore_errors=True)
            continue
        identical += same(final_state(out), reference)
        shutil.rmtree(out, ignore_errors=True)
        print(f"  {name}: kill {k}/{kills}: {lost[-1]} steps lost", flush=True)
    steps = reference["step"]
    print(
        json.dumps(
            {
                "scenario": name,
                "kills": kills,
                "bit_identical": f"{identical}/{kills}",
                "steps_lost": {
                    "min": min(lost),
                    "median": float(np.median(lost)),
                    "max": max(lost),
                },
                "checkpoint_every": CHECKPOINT_EVERY,
                "kills_during_a_checkpoint_write": in_write,
                "kills_before_the_first_checkpoint": before_first,
                "kill_times_redrawn_after_the_end": late,
                "run_steps": steps,
                "uninterrupted_seconds": round(duration, 1),
            }
        ),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs per scenario")
    parser.add_argument("--scenario", choices=("synthetic", "jpeg", "all"), default="all")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill times")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, overrides in scenarios(root).items():
            if args.scenario in ("all", name.split("+")[0].strip()):
                soak(name, overrides, args.kills, root, rng)


if __name__ == "__main__":
    main()
