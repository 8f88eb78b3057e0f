"""Running a sweep's runs: one by one here, one per GPU in worker processes, or as a SLURM array.

Each run is trained by :func:`run_one`, which is idempotent: a finished run is skipped, an
unfinished one resumes from its own folder, a missing one starts, and one that is training
elsewhere is left alone. Failures are recorded (a one-line error in ``status/NAME.json``) and do
not stop the other runs. The engines are the ones people trust: subprocesses pinned with
``CUDA_VISIBLE_DEVICES`` for a workstation, and submitit for SLURM, whose checkpoint-and-requeue
mechanism (:class:`SweepJob`) hands preemption to the trainer's own signal handling.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from infovit.errors import InfovitError, RunInterrupted, one_line
from infovit.sweep.folder import SweepFolder
from infovit.training.config import Config
from infovit.training.distributed import Distributed
from infovit.training.lock import RunLock
from infovit.training.run import RunFolder
from infovit.training.trainer import train

__all__ = ["SweepJob", "check_submitit", "run_gpus", "run_local", "run_one", "run_submitit"]

EXIT_INTERRUPTED = 75  # the trainer's exit code after SIGTERM / SIGUSR1 / SIGUSR2
EXIT_SKIPPED = 3  # run-one: the run is being trained by another process
_OUTCOMES = {
    0: "done",
    EXIT_INTERRUPTED: "interrupted",
    130: "interrupted",
    EXIT_SKIPPED: "skipped",
}


def run_one(sweep: SweepFolder, name: str, where: str = "local", progress: bool = True) -> str:
    """Train run ``name`` of ``sweep`` to its end here; returns ``done``, ``failed`` or
    ``skipped`` (training elsewhere). Raises RunInterrupted after a stop signal (the run's
    checkpoint is saved)."""
    run_dir = sweep.run_dir(name)
    run = RunFolder(run_dir)
    if run.meta_path.is_file() and "finished" in run.meta():
        return "done"
    # The lock first: nothing is inspected or cleared while another trainer may hold the run.
    # In a multi-process run rank 0 holds it; the others decide from the same files, which
    # rank 0 changes only once every rank has joined the process group.
    lock = None
    if Distributed.from_env().is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        lock = RunLock(run_dir)
        try:
            lock.acquire()
        except InfovitError:
            return "skipped"
    try:
        return _train_one(sweep, name, run, where, progress, lock)
    finally:
        if lock is not None:
            lock.release()


def _train_one(
    sweep: SweepFolder,
    name: str,
    run: RunFolder,
    where: str,
    progress: bool,
    lock: RunLock | None,
) -> str:
    sweep.record(
        name, where=where, error="", queued="", started=time.strftime("%Y-%m-%dT%H:%M:%S%z")
    )
    try:
        if run.config_path.is_file() and run.has_checkpoint("last"):
            train(None, run.path, resume=True, progress=progress, lock=lock)
        else:
            if lock is not None and run.path.exists():  # killed before its first checkpoint
                run.remove(keep_lock=True)
            config = Config.from_dict(sweep.run_config(name))
            train(config, run.path, progress=progress, lock=lock)
    except RunInterrupted:
        sweep.record(name, interrupted=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        raise
    except Exception as err:  # any failure of one run is reported, the others go on
        sweep.record(name, error=one_line(err) if isinstance(err, InfovitError) else
                     f"{type(err).__name__}: {one_line(err)}")  # fmt: skip
        return "failed"
    sweep.record(name, finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    return "done"


def _say(text: str) -> None:
    print(f"sweep: {text}", flush=True)


def run_local(sweep: SweepFolder, names: Sequence[str], progress: bool = True) -> dict[str, str]:
    """Run ``names`` one after another in this process (the laptop case)."""
    results = {}
    for i, name in enumerate(names, 1):
        _say(f"[{i}/{len(names)}] {name}")
        try:
            results[name] = run_one(sweep, name, "local", progress)
        except RunInterrupted as stop:
            sweep.write_status()
            raise RunInterrupted(
                f"{stop.message}; the rest of the sweep continues with the same "
                "'infovit sweep' command",
                stop.exit_code,
            ) from None
        if results[name] == "failed":
            _say(f"{name} failed: {sweep.status_record(name).get('error')}")
        sweep.write_status()
    return results


def _worker_command(sweep: SweepFolder, name: str, where: str) -> list[str]:
    return [sys.executable, "-m", "infovit", "sweep", "run-one", str(sweep.path), name,
            "--where", where]  # fmt: skip


def run_gpus(sweep: SweepFolder, names: Sequence[str], gpus: Sequence[str]) -> dict[str, str]:
    """One run per GPU at a time, each in a worker process pinned with CUDA_VISIBLE_DEVICES;
    output goes to ``logs/NAME.log``. A stop signal is passed on to the workers, which
    checkpoint; a failed run does not stop the others."""
    queue = list(names)
    free = list(gpus)
    active: dict[str, tuple[subprocess.Popen[bytes], str, Any]] = {}
    results: dict[str, str] = {}
    stopping: list[int] = []

    def forward(signum: int, frame: object) -> None:
        stopping.append(signum)
        for proc, _, _ in active.values():
            proc.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while queue or active:
            while queue and free and not stopping:
                name, gpu = queue.pop(0), free.pop(0)
                sweep.log_path(name).parent.mkdir(parents=True, exist_ok=True)
                log = open(sweep.log_path(name), "ab")  # closed when the worker ends
                env = {**os.environ, "CUDA_VISIBLE_DEVICES": gpu}
                where = f"local gpu {gpu}"
                proc = (
                    subprocess.Popen(  # own session: a terminal's Ctrl-C reaches it once, from us
                        _worker_command(sweep, name, where),
                        env=env,
                        stdout=log,
                        stderr=log,
                        start_new_session=True,
                    )
                )
                active[name] = (proc, gpu, log)
                _say(f"{name} started on gpu {gpu} (log: {sweep.log_path(name)})")
            for name, (proc, gpu, log) in list(active.items()):
                code = proc.poll()
                if code is None:
                    continue
                log.close()
                del active[name]
                free.append(gpu)
                results[name] = _OUTCOMES.get(code, "failed")
                if results[name] == "failed" and not sweep.status_record(name).get("error"):
                    sweep.record(name, error=f"worker exited with code {code}; see its log")
                _say(f"{name} {results[name]} (gpu {gpu})")
                sweep.write_status()
            if not queue or not free:
                time.sleep(0.2)
            if stopping and not active:
                break
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stopping:
        raise RunInterrupted(
            "sweep stopped by a signal; running runs saved checkpoints; continue with the same "
            "'infovit sweep' command",
            130 if stopping[0] == signal.SIGINT else EXIT_INTERRUPTED,
        )
    return results


class SweepJob:
    """The callable submitit runs for one run of a sweep (a SLURM array task).

    The run is trained in a child process (``infovit sweep run-one``), so that on a timeout or
    preemption signal submitit's handler (which calls :meth:`checkpoint`, then requeues and
    exits) does not cut a training step in half: :meth:`checkpoint` sends SIGTERM to the child,
    waits for it to save at its next step boundary, and returns the requeued job, which resumes
    from the run folder. With several tasks per run (``--slurm.ntasks_per_node N``), each task
    is one rank of a torch.distributed run set up by submitit's TorchDistributedEnvironment.
    """

    def __init__(self) -> None:
        self._child: subprocess.Popen[bytes] | None = None

    def __call__(self, sweep_dir: str, name: str) -> str:
        import submitit
        from submitit.helpers import TorchDistributedEnvironment

        job = submitit.JobEnvironment()
        env = dict(os.environ)
        if job.num_tasks > 1:  # ranks index the node's GPUs by LOCAL_RANK: keep all visible
            TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
            env = dict(os.environ)
        where = f"slurm job {job.job_id}"
        sweep = SweepFolder(sweep_dir)
        if job.global_rank == 0:
            sweep.record(name, where=where, job_id=job.job_id)
        self._child = subprocess.Popen(_worker_command(sweep, name, where), env=env)
        code = self._child.wait()
        if code == 0:
            return "done"
        if code == EXIT_INTERRUPTED:
            time.sleep(30)  # the scheduler's signal reaches checkpoint() and requeues this job
        raise RuntimeError(f"run {name} ended with exit code {code}; see 'infovit sweep status'")

    def checkpoint(self, sweep_dir: str, name: str) -> Any:
        import submitit

        if self._child is not None:
            _stop_and_reap(self._child.pid, timeout=600.0)
        return submitit.helpers.DelayedSubmission(SweepJob(), sweep_dir, name)


def _stop_and_reap(pid: int, timeout: float) -> None:
    """SIGTERM the trainer ``pid`` and wait until it has saved and exited.

    Called from submitit's signal handler, which interrupts ``Popen.wait`` in
    :meth:`SweepJob.__call__`: that frame holds the Popen's (non-reentrant) wait lock, so
    ``Popen.wait`` / ``poll`` here would spin forever; ``os.waitpid`` reaps the child directly.
    """
    try:  # already ended (and maybe reaped): never signal a pid that may be reused
        if os.waitpid(pid, os.WNOHANG)[0]:
            return
        os.kill(pid, signal.SIGTERM)
    except (ChildProcessError, ProcessLookupError):
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # already reaped
            return
        if done:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def check_submitit(params: dict[str, Any], local: bool) -> None:
    """Check the ``--slurm.*`` options before anything is written: submitit installed, SLURM
    present (unless ``local``), a valid ``time`` and ``max_num_timeout``."""
    try:
        import submitit  # noqa: F401
    except ModuleNotFoundError as err:
        raise InfovitError(
            "--executor slurm needs submitit: pip install 'infovit[cluster]'"
        ) from err
    if not local and shutil.which("srun") is None:
        raise InfovitError(
            "--executor slurm: no SLURM on this machine (srun not found); submit from a login "
            "node, or try the job array here with --executor submitit-local"
        )
    if "time" in params:
        _minutes(params["time"])
    timeouts = params.get("max_num_timeout", 30)
    if isinstance(timeouts, bool) or not isinstance(timeouts, int) or timeouts < 0:
        raise InfovitError(f"--slurm.max_num_timeout must be an integer ≥ 0, got {timeouts!r}")


def run_submitit(
    sweep: SweepFolder,
    names: Sequence[str],
    params: dict[str, Any],
    local: bool = False,
    wait: bool = False,
) -> list[Any]:
    """Submit ``names`` as one job array through submitit: SLURM, or with ``local`` submitit's
    LocalExecutor (the same code path on this machine). Returns the jobs."""
    import submitit

    check_submitit(params, local)
    params = dict(params)
    if not names:
        _say("nothing to submit: every run is done or running")
        return []
    folder = sweep.path / "slurm" / "%j"
    timeouts = params.pop("max_num_timeout", 30)  # requeues after a time limit
    if local:
        executor: Any = submitit.LocalExecutor(folder=folder, max_num_timeout=timeouts)
        executor.update_parameters(
            timeout_min=_minutes(params.pop("time", 60 * 24)), **_local_params(params)
        )
    else:
        executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=timeouts)
        executor.update_parameters(**_slurm_params(params))
    n = len(names)
    jobs = executor.map_array(SweepJob(), [str(sweep.path.resolve())] * n, list(names))
    for name, job in zip(names, jobs, strict=True):
        sweep.record(
            name,
            where=f"slurm job {job.job_id}",
            job_id=job.job_id,
            error="",
            queued=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        )
        _say(f"{name} submitted as job {job.job_id}")
    sweep.write_status()
    if wait:
        for job in jobs:
            try:
                job.result()
            except Exception:  # the run's own status says what happened
                pass
        sweep.write_status()
    return jobs


_SLURM_KNOWN = ("partition", "time", "gpus_per_task", "cpus_per_task", "mem",
                "array_parallelism", "account")  # fmt: skip


def _slurm_params(params: dict[str, Any]) -> dict[str, Any]:
    """``--slurm.KEY VALUE`` → SlurmExecutor parameters; unknown keys become extra ``#SBATCH``
    lines (``additional_parameters``). ``time`` is minutes or ``HH:MM:SS``."""
    import submitit

    valid = submitit.SlurmExecutor._valid_parameters()
    out: dict[str, Any] = {"signal_delay_s": 120}
    extra: dict[str, Any] = {}
    for key, value in params.items():
        if key == "time":
            value = _sbatch_minutes(value)
        if key in valid:
            out[key] = value
        else:
            extra[key] = value
    if extra:
        out["additional_parameters"] = extra
    return out


def _local_params(params: dict[str, Any]) -> dict[str, Any]:
    """The subset of parameters that LocalExecutor understands (for testing on one machine)."""
    out = {}
    if "signal_delay_s" in params:
        out["signal_delay_s"] = int(params["signal_delay_s"])
    return out


def _sbatch_minutes(value: Any) -> int:
    """Whole minutes, rounded up, as ``#SBATCH --time`` reads them (no fractions)."""
    return max(1, math.ceil(_minutes(value)))


def _minutes(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    if isinstance(value, str):
        parts = value.split(":")
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            numbers = []
        if len(numbers) == 1 and numbers[0] > 0:  # SLURM: a bare number is minutes
            return numbers[0]
        if len(numbers) in (2, 3) and all(x >= 0 for x in numbers) and any(numbers):
            *hours, minutes, seconds = numbers  # MM:SS or HH:MM:SS
            return (hours[0] if hours else 0.0) * 60 + minutes + seconds / 60
    raise InfovitError(f"--slurm.time must be minutes or HH:MM:SS, got {value!r}")
