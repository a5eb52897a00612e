"""The training loop every trainer shares (audiocraft's ``solvers/base.py``, kept small).

A trainer subclasses ``Solver``: its ``__init__`` loads the data and builds the model, optimiser and LR schedule
(after the base has set the device and seeded every generator), ``train_step`` makes one update from a
step-seeded numpy generator, ``evaluate`` scores the held-out data and ``export`` writes the weights folder
(``bd2music.training.card.export``). ``Solver.run`` does the rest, the same way for every model:

* optional resume from ``WORK/checkpoint.pt`` (model, optimisers, schedules, step, eval history, training losses),
  refused when the checkpoint was made with another architecture;
* ``config.steps`` steps under a tqdm bar; the batch of step ``s`` comes from ``numpy.random.default_rng([seed,
  s])``, so a resumed run draws the batches an uninterrupted one would;
* held-out evaluation every ``eval_every`` steps and at the last one, recorded in the history;
* a checkpoint every ``checkpoint_every`` steps and at the last one (written atomically; 0 = never);
* export, with the metrics of the last evaluation.

The config of a trainer has at least ``steps``, ``eval_every``, ``seed`` and ``threads``; ``checkpoint_every``,
``grad_clip``, ``warmup_steps`` and ``min_lr_ratio`` where it uses them.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import torch
from tqdm import tqdm

from bd2music.errors import InputError
from bd2music.models.base import config_to_dict


class Stateful(Protocol):
    """What a checkpoint holds the state of: a module, an optimiser, an LR schedule."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state_dict: dict[str, Any], /) -> Any: ...


Part = Stateful | list[Stateful]  # a list (e.g. one LR schedule per optimiser) is saved as a list of states


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def setup_device(device: str, threads: int) -> torch.device:
    from bd2music.audio.torch_descriptors import check_device

    check_device(device)
    if threads > 0:
        torch.set_num_threads(threads)
    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return torch.device(device)


def cosine_schedule(warmup_steps: int, total_steps: int, min_ratio: float):
    """LR multiplier: linear warm-up, then cosine decay to ``min_ratio`` at ``total_steps``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def cosine_lr(optimizer: torch.optim.Optimizer, config: Any) -> torch.optim.lr_scheduler.LambdaLR:
    """The LR schedule of a run: ``cosine_schedule`` with the config's ``warmup_steps``, ``steps``, ``min_lr_ratio``."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, cosine_schedule(config.warmup_steps, config.steps, config.min_lr_ratio)
    )


def optimizer_step(
    loss: torch.Tensor,
    parameters: Iterable[torch.Tensor],
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler | Sequence[torch.optim.lr_scheduler.LRScheduler] = (),
    grad_clip: float | None = None,
) -> None:
    """One update: back-propagate ``loss``, clip the gradient norm of ``parameters`` to ``grad_clip`` (if given),
    step the optimiser, then its LR ``schedule`` (one, or several stepped in order)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(parameters, grad_clip)
    optimizer.step()
    for each in schedule if isinstance(schedule, Sequence) else [schedule]:
        each.step()


def architecture(config: dict[str, Any]) -> dict[str, Any]:
    """A model config (as a dict) without its ``inference`` settings: what must match for a checkpoint to resume."""
    return {key: value for key, value in config.items() if key != "inference"}


def save_checkpoint(work: Path, state: dict[str, Any]) -> None:
    """Write ``work/checkpoint.pt`` atomically (a crash mid-write keeps the previous one)."""
    work.mkdir(parents=True, exist_ok=True)
    tmp = work / "checkpoint.pt.tmp"
    torch.save(state, tmp)
    os.replace(tmp, work / "checkpoint.pt")


def load_checkpoint(work: Path, config: Any, device: torch.device) -> dict[str, Any] | None:
    """The checkpoint of ``work`` if it was made with the same model architecture, else an error; None if absent."""
    path = work / "checkpoint.pt"
    if not path.is_file():
        print(f"no checkpoint in {work}: starting from step 0")
        return None
    state = torch.load(path, map_location=device, weights_only=True)
    saved, current = state["config"].get("model"), config_to_dict(config).get("model")
    if saved is not None and current is not None and architecture(saved) != architecture(current):
        raise InputError(f"{path} was trained with another model config; use a new --work folder")
    return state


def save_training_state(
    work: Path, config: Any, step: int, history: list[dict[str, float]], losses: list[float], **parts: Part
) -> None:
    """Checkpoint a run: ``step``, eval ``history``, training ``losses``, the config (as a dict) and the
    ``state_dict()`` of each of ``parts`` (model, optimizer, schedule, ...) under its keyword."""
    states = {name: [p.state_dict() for p in part] if isinstance(part, list) else part.state_dict()
              for name, part in parts.items()}
    save_checkpoint(work, {"step": step, **states, "history": history, "losses": losses,
                           "config": config_to_dict(config)})


def restore_training_state(
    work: Path, config: Any, device: torch.device, optional: dict[str, Part] | None = None, **parts: Part
) -> tuple[int, list[dict[str, float]], list[float]]:
    """Load the checkpoint of ``work`` (``save_training_state``) into ``parts``, by keyword; the ``optional``
    parts only where the checkpoint has them (e.g. a discriminator switched on later). Returns its step, eval
    history and training losses, or (0, [], []) when there is no checkpoint."""
    state = load_checkpoint(work, config, device)
    if state is None:
        return 0, [], []
    present = {name: part for name, part in (optional or {}).items() if name in state}
    for name, part in (parts | present).items():
        if isinstance(part, list):
            for item, saved in zip(part, state[name]):
                item.load_state_dict(saved)
        else:
            part.load_state_dict(state[name])
    return state["step"], state["history"], state["losses"]


class Solver:
    """One training run of a model (see the module doc). Subclasses set ``name`` and, in ``__init__``, ``model``
    (the module that is exported), ``optimizer`` and ``schedule``; they define ``train_step``, ``evaluate`` and
    ``export``, and ``parts`` / ``optional_parts`` when a checkpoint holds more than those three."""

    name: ClassVar[str]  # the progress bar's label and the prefix of the run's messages
    postfix: ClassVar[tuple[str, ...]] = ("total",)  # loss terms shown on the progress bar
    hidden_metrics: ClassVar[tuple[str, ...]] = ()  # prefixes of metrics recorded but not printed
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler

    def __init__(self, config: Any, data_root: Path, out: Path, work: Path, device: str = "cpu") -> None:
        self.config = config
        self.data_root, self.out, self.work = Path(data_root), Path(out), Path(work)
        self.device_name = device  # as given (data caches take the string)
        self.device = setup_device(device, config.threads)
        seed_everything(config.seed)
        self.step = 0
        self.history: list[dict[str, float]] = []  # {"step": s} | metrics, one per evaluation
        self.losses: list[float] = []  # the total training loss of every step

    # -- what a trainer defines ---------------------------------------------------------------------------------
    def train_step(self, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """Draw the batch of ``self.step`` with ``rng``, make the update; return the loss terms, with ``total``."""
        raise NotImplementedError

    def evaluate(self) -> dict[str, float]:
        """Held-out metrics of the model as it is now (leaves it in training mode)."""
        raise NotImplementedError

    def export(self) -> dict[str, float]:
        """Write the weights folder to ``self.out``; return its metrics (``final_metrics`` and more)."""
        raise NotImplementedError

    def parts(self) -> dict[str, Part]:
        """What a checkpoint restores, by name."""
        return {"model": self.model, "optimizer": self.optimizer, "schedule": self.schedule}

    def optional_parts(self) -> dict[str, Part]:
        """Checkpointed too, but restored only when the checkpoint has them."""
        return {}

    def batch_rng(self) -> np.random.Generator:
        """The generator of the current step's batch: the same whether the run was resumed or not."""
        return np.random.default_rng([self.config.seed, self.step])

    # -- the loop -----------------------------------------------------------------------------------------------
    def update(self, loss: torch.Tensor, parameters: Iterable[torch.Tensor] | None = None) -> None:
        """``optimizer_step`` of the run's optimiser and schedule, gradients of ``parameters`` (default: the
        model's) clipped to ``config.grad_clip``."""
        parameters = self.model.parameters() if parameters is None else parameters
        optimizer_step(loss, parameters, self.optimizer, self.schedule, self.config.grad_clip)

    def run(self, resume: bool = False) -> dict[str, float]:
        """Train (resuming from the work folder's checkpoint with ``resume``), export; return the metrics."""
        checkpoint_every = getattr(self.config, "checkpoint_every", 0)
        if resume and not checkpoint_every:
            tqdm.write(f"{self.name}: nothing to resume, training again")
        elif resume:
            self.step, self.history, self.losses = restore_training_state(
                self.work, self.config, self.device, self.optional_parts(), **self.parts()
            )
        self.model.train()
        steps = self.config.steps
        progress = tqdm(total=steps, initial=self.step, desc=self.name, unit="step")
        while self.step < steps:
            terms = self.train_step(self.batch_rng())
            self.step += 1
            self.losses.append(terms["total"].item())
            progress.update()
            progress.set_postfix({k: f"{terms[k].item():.3f}" for k in self.postfix if k in terms})
            if self.step % self.config.eval_every == 0 or self.step == steps:
                self.record(self.evaluate(), progress)
            if checkpoint_every and (self.step % checkpoint_every == 0 or self.step == steps):
                save_training_state(self.work, self.config, self.step, self.history, self.losses,
                                    **self.parts(), **self.optional_parts())
        progress.close()
        self.model.eval()
        return self.export()

    def record(self, metrics: dict[str, float], progress: tqdm | None = None) -> None:
        """Append the eval ``metrics`` of the current step to the history and print them."""
        self.history.append({"step": self.step} | metrics)
        shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if not k.startswith(self.hidden_metrics))
        (progress or tqdm).write(f"step {self.step}: {shown}")

    def final_metrics(self) -> dict[str, float]:
        """The last evaluation's metrics (evaluated now when the last step was not), then ``steps`` and
        ``train_loss_last_100``."""
        if not self.history or self.history[-1]["step"] != self.step:
            self.record(self.evaluate())
            self.model.eval()
        metrics = {k: v for k, v in self.history[-1].items() if k != "step"}
        return metrics | {"steps": self.step, "train_loss_last_100": self.mean_loss(-100)}

    def mean_loss(self, last: int) -> float:
        """Mean training loss of the first ``last`` steps (or, negative, of the last ``-last``); nan before any."""
        losses = self.losses[last:] if last < 0 else self.losses[:last]
        return float(np.mean(losses)) if losses else float("nan")

    def parameter_count(self) -> str:
        """The model's size for the model card, e.g. ``1.23 M parameters``."""
        return f"{sum(p.numel() for p in self.model.parameters()) / 1e6:.2f} M parameters"
