"""DA-LIF vs plain LIF, from float training to Loihi: does the advantage survive quantization?

For every task, model, neuron variant, T and seed this script:

1. trains the float model (``dalif.train.fit``);
2. exports it (post-training quantization, ``export.export_model``) and runs it on loihi-sim:
   the PTQ accuracy;
3. fine-tunes it with quantization-aware training (``dalif.qat``, the exporter's integer
   network in the forward pass), exports that and runs it on loihi-sim: the QAT accuracy (and
   checks it equals the QAT model's own predictions on every test sample);
4. costs the deployed (QAT) model on the Loihi chip profile (``hardware_sim.cost``: the
   events of the loihi-sim run, priced and timed as ``dalif energy`` does): spikes, synaptic
   ops, energy and latency per inference;
5. for seed 0, runs the deployed model in Lava (``deploy.lava``) on a few test samples and
   checks that every prediction and every layer's spike count equals loihi-sim's.

Variants. "DA-LIF/<g>": learnable spatial and temporal decays α = σ(a), β = σ(b), one pair per
layer, channel or neuron (granularity g). "LIF": plain LIF, ``ModelConfig(neuron="lif")``:
α = 1 and β fixed at ``lif_beta`` = 0.5 for every neuron (buffers, not learned); everything
else (architecture, BN, threshold, surrogate, optimiser, epochs) is the same.

Results: mean ± std over seeds, a JSON file, a Markdown table (printed, and stored in the
JSON) and a plot of QAT accuracy vs energy per inference, one marker per model/variant/T.
Data sets whose files are absent (CIFAR-10, DVS128 Gesture) are skipped and listed as such.

    .venv/bin/python benchmarks/study_dalif_vs_lif.py              # the full study
    .venv/bin/python benchmarks/study_dalif_vs_lif.py --quick      # a smoke run (1 seed, 1 epoch)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dalif.config import ModelConfig, TrainConfig  # noqa: E402
from dalif.data import DATASETS, load_dataset  # noqa: E402
from dalif.data.registry import DatasetError  # noqa: E402
from dalif.qat import qat_predictions  # noqa: E402
from dalif.train import evaluate, fit  # noqa: E402
from deploy.registry import BackendError  # noqa: E402
from deploy.run import run_backend  # noqa: E402
from export import export_model  # noqa: E402
from hardware_sim.chips import load_chip  # noqa: E402
from hardware_sim.cost.cycle import time_events  # noqa: E402
from hardware_sim.cost.energy import price_energy  # noqa: E402
from hardware_sim.cost.events import count_events  # noqa: E402
from hardware_sim.cost.mapping import map_to_cores  # noqa: E402
from hardware_sim.ir.graph import DeployedModel  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
VARIANTS = {
    "DA-LIF/layer": {"neuron": "dalif", "granularity": "layer"},
    "DA-LIF/channel": {"neuron": "dalif", "granularity": "channel"},
    "DA-LIF/neuron": {"neuron": "dalif", "granularity": "neuron"},
    "LIF": {"neuron": "lif", "granularity": "layer"},
}
MODELS = {
    "mlp": {"model": "mlp"},
    "convnet": {"model": "convnet"},
    # the zoo's ResNet-20 at width 1/2 and depth 1/3: channels 8, 16, 32, one block per stage
    "resnet": {"model": "resnet20", "width": 0.5, "depth": 1 / 3},
}


@dataclass(frozen=True)
class Task:
    """A data set and what is trained on it. ``needs_files``: read from --data-dir, skipped
    when absent. Temporal data sets fix T."""

    dataset: str
    models: tuple[str, ...]
    timesteps: tuple[int, ...]
    needs_files: bool = False


TASKS = {
    "seq_digits": Task("seq_digits", ("mlp",), (8,)),  # one row per step: T = 8 rows
    "digits": Task("digits", ("resnet", "convnet"), (4, 2)),
    "cifar10": Task("cifar10", ("resnet",), (2, 4), needs_files=True),
    "dvs_gesture_32": Task("dvs_gesture_32", ("convnet",), (16,), needs_files=True),
}

METRICS = ("float_acc", "ptq_acc", "qat_acc", "spikes", "synaptic_ops", "energy_uj", "latency_us",
           "parameters")


def _config(task: Task, model: str, variant: str, timesteps: int, seed: int) -> ModelConfig:
    info = DATASETS[task.dataset]
    return ModelConfig(input_shape=tuple(info.input_shape), num_classes=info.num_classes,
                       input_scale=info.input_scale, timesteps=timesteps, seed=seed,
                       **MODELS[model], **VARIANTS[variant])


def _deployed(model: torch.nn.Module) -> DeployedModel:
    exported = export_model(model)
    return DeployedModel(graph=exported.graph, timesteps=exported.timesteps, info={}, foreign=False)


def _on_chip(deployed: DeployedModel, x: np.ndarray, y: np.ndarray, temporal: bool,
             chip: Any) -> dict[str, Any]:
    """loihi-sim's run of the test set and its cost on ``chip`` (as ``dalif energy`` prices it)."""
    result = run_backend("loihi-sim", deployed, x, temporal=temporal)
    events = count_events(deployed.graph, map_to_cores(deployed.graph, chip), result)
    n = result.samples
    return {
        "acc": result.accuracy(y),
        "predictions": result.predictions,
        "spikes": sum(c.spikes for c in result.counts) / n,
        "synaptic_ops": sum(c.synaptic_ops for c in result.counts) / n,
        "energy_uj": price_energy(events, chip).energy_j_per_inference * 1e6,
        "latency_us": time_events(events, chip).latency_s * 1e6,
        "overflow": result.overflow_events,
    }


def _lava_agreement(deployed: DeployedModel, x: np.ndarray, temporal: bool) -> dict[str, Any]:
    """Lava's run of the first samples vs loihi-sim's: predictions and per-layer spikes."""
    try:
        lava = run_backend("lava", deployed, x, temporal=temporal)
    except BackendError as exc:
        return {"samples": 0, "agree": None, "why": str(exc).splitlines()[0]}
    sim = run_backend("loihi-sim", deployed, x, temporal=temporal)
    same = bool(np.array_equal(lava.predictions, sim.predictions)) and all(
        a.spikes == b.spikes for a, b in zip(lava.counts, sim.counts))
    return {"samples": int(len(x)), "agree": same,
            "spikes": int(sum(c.spikes for c in lava.counts))}


def run_one(task: Task, model: str, variant: str, timesteps: int, seed: int, data: tuple,
            args: argparse.Namespace, chip: Any) -> dict[str, Any]:
    x_train, y_train, x_test, y_test = data
    temporal = DATASETS[task.dataset].temporal
    config = _config(task, model, variant, timesteps, seed)
    started = time.perf_counter()
    float_model, _ = fit(config, TrainConfig(epochs=args.epochs, lr=args.lr, seed=seed),
                         x_train, y_train, progress=False)
    float_acc = evaluate(float_model, x_test, y_test)
    y = y_test.numpy()
    ptq = _on_chip(_deployed(float_model), x_test.numpy(), y, temporal, chip)
    qat_model, _ = fit(config, TrainConfig(epochs=args.qat_epochs, lr=args.qat_lr, seed=seed,
                                           qat=True),
                       x_train, y_train, progress=False, start_from=float_model)
    deployed = _deployed(qat_model)
    qat = _on_chip(deployed, x_test.numpy(), y, temporal, chip)
    qat_equal = bool(np.array_equal(qat_predictions(qat_model, x_test), qat["predictions"]))
    record = {
        "task": task.dataset, "model": model, "variant": variant, "T": timesteps, "seed": seed,
        "float_acc": float_acc, "ptq_acc": ptq["acc"], "qat_acc": qat["acc"],
        "qat_forward_equals_export": qat_equal,
        "spikes": qat["spikes"], "synaptic_ops": qat["synaptic_ops"],
        "energy_uj": qat["energy_uj"], "latency_us": qat["latency_us"],
        "ptq_spikes": ptq["spikes"], "ptq_energy_uj": ptq["energy_uj"],
        "overflow_events": qat["overflow"],
        "parameters": int(sum(p.numel() for p in qat_model.parameters())),
        "test_samples": int(len(y)),
    }
    if seed == args.seeds[0] and args.lava_samples:
        record["lava"] = _lava_agreement(deployed, x_test[:args.lava_samples].numpy(), temporal)
    record["seconds"] = time.perf_counter() - started
    return record


def _load(task: Task, args: argparse.Namespace) -> tuple | str:
    """(x_train, y_train, x_test, y_test), or why the task cannot run."""
    if task.needs_files and not args.data_dir:
        return "its files are not here (give --data-dir)"
    try:
        x_train, y_train = load_dataset(task.dataset, "train", args.data_dir)
        x_test, y_test = load_dataset(task.dataset, "test", args.data_dir)
    except DatasetError as exc:
        return str(exc)
    if args.limit_train:
        x_train, y_train = x_train[:args.limit_train], y_train[:args.limit_train]
    if args.limit_test:
        x_test, y_test = x_test[:args.limit_test], y_test[:args.limit_test]
    return x_train, y_train, x_test, y_test


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and standard deviation over seeds per (task, model, variant, T)."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["task"], r["model"], r["variant"], r["T"]), []).append(r)
    rows = []
    for (task, model, variant, steps), members in groups.items():
        row: dict[str, Any] = {"task": task, "model": model, "variant": variant, "T": steps,
                               "seeds": [m["seed"] for m in members]}
        for key in METRICS:
            values = [float(m[key]) for m in members]
            row[key] = statistics.fmean(values)
            row[key + "_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        row["qat_forward_equals_export"] = all(m["qat_forward_equals_export"] for m in members)
        lava = [m["lava"] for m in members if "lava" in m]
        row["lava_agree"] = None if not lava or any(a["agree"] is None for a in lava) \
            else all(a["agree"] for a in lava)
        rows.append(row)
    return rows


def verdicts(rows: list[dict[str, Any]]) -> list[str]:
    """Per task, model and T: the best DA-LIF variant vs LIF in float, PTQ and QAT accuracy
    (differences of seed means, with the larger of the two stds as the noise)."""
    lines = []
    keys = sorted({(r["task"], r["model"], r["T"]) for r in rows})
    for task, model, steps in keys:
        group = {r["variant"]: r for r in rows if (r["task"], r["model"], r["T"]) == (task, model, steps)}
        lif = group.get("LIF")
        dalif = [r for v, r in group.items() if v != "LIF"]
        if lif is None or not dalif:
            continue
        parts = []
        for stage in ("float_acc", "ptq_acc", "qat_acc"):
            best = max(dalif, key=lambda r, s=stage: r[s])
            diff = (best[stage] - lif[stage]) * 100
            noise = max(best[stage + "_std"], lif[stage + "_std"]) * 100
            word = "ahead" if diff > noise else "behind" if diff < -noise else "within noise"
            parts.append(f"{stage.removesuffix('_acc')}: {best['variant']} {diff:+.1f} pt "
                         f"({word}, std {noise:.1f})")
        parts.append(f"energy: DA-LIF {min(r['energy_uj'] for r in dalif):.2f}–"
                     f"{max(r['energy_uj'] for r in dalif):.2f} µJ vs LIF {lif['energy_uj']:.2f} µJ")
        lines.append(f"{task} / {model} / T={steps}: " + "; ".join(parts))
    return lines


def markdown_table(rows: list[dict[str, Any]]) -> str:
    def pm(row: dict[str, Any], key: str, scale: float = 1.0, digits: int = 1) -> str:
        return f"{row[key] * scale:.{digits}f} ± {row[key + '_std'] * scale:.{digits}f}"

    head = ("| task | model | neuron | T | float acc % | PTQ acc % | QAT acc % | spikes/inf | "
            "synaptic ops/inf | energy µJ/inf | latency µs/inf | params | Lava |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in sorted(rows, key=lambda r: (r["task"], r["model"], r["T"], r["variant"])):
        lava = {None: "–", True: "equal", False: "DIFFERS"}[r["lava_agree"]]
        lines.append(
            f"| {r['task']} | {r['model']} | {r['variant']} | {r['T']} | {pm(r, 'float_acc', 100)} | "
            f"{pm(r, 'ptq_acc', 100)} | {pm(r, 'qat_acc', 100)} | {pm(r, 'spikes', 1, 0)} | "
            f"{pm(r, 'synaptic_ops', 1, 0)} | {pm(r, 'energy_uj', 1, 3)} | {pm(r, 'latency_us', 1, 1)} | "
            f"{int(r['parameters'])} | {lava} |")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], stem: Path) -> list[Path]:
    """QAT accuracy vs energy per inference, one panel per task, one marker per model/variant/T."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({r["task"] for r in rows})
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 4.2), squeeze=False)
    colors = dict(zip(VARIANTS, ("tab:blue", "tab:green", "tab:purple", "tab:red")))
    markers = {"mlp": "s", "convnet": "o", "resnet": "^"}
    for ax, task in zip(axes[0], tasks):
        for r in (r for r in rows if r["task"] == task):
            ax.errorbar(r["energy_uj"], r["qat_acc"] * 100, xerr=r["energy_uj_std"],
                        yerr=r["qat_acc_std"] * 100, fmt=markers[r["model"]],
                        color=colors[r["variant"]], markersize=4 + r["T"], alpha=0.85,
                        label=f"{r['variant']}")
            ax.annotate(f"{r['model']} T={r['T']}", (r["energy_uj"], r["qat_acc"] * 100),
                        fontsize=6, xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel("energy per inference on Loihi (µJ)")
        ax.set_ylabel("QAT accuracy on loihi-sim (%)")
        ax.set_title(task)
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles))
        ax.legend(unique.values(), unique.keys(), fontsize=7, loc="lower right")
        ax.grid(alpha=0.3)
    fig.suptitle("DA-LIF vs LIF after quantization (marker: model; size: T; bars: std over seeds)",
                 fontsize=9)
    fig.tight_layout()
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    for path in paths:
        fig.savefig(path, dpi=130)
    plt.close(fig)
    return paths


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", default="seq_digits,digits,cifar10,dvs_gesture_32",
                   help=f"comma-separated, of {', '.join(TASKS)} (file-based ones skip without files)")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated neuron variants")
    p.add_argument("--epochs", type=int, default=4, help="float training epochs (default 4)")
    p.add_argument("--lr", type=float, default=5e-3, help="float training peak lr (default 5e-3)")
    p.add_argument("--qat-epochs", type=int, default=1, help="QAT fine-tune epochs (default 1)")
    p.add_argument("--qat-lr", type=float, default=1e-3, help="QAT peak lr (default 1e-3)")
    p.add_argument("--lava-samples", type=int, default=4,
                   help="test samples run in Lava, for the first seed's models (0: none; default 4)")
    p.add_argument("--data-dir", help="where CIFAR-10 / DVS128 Gesture files are")
    p.add_argument("--limit-train", type=int, help="first N training samples only")
    p.add_argument("--limit-test", type=int, help="first N test samples only")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: seed 0, 1 epoch, 1 QAT epoch, digits only, 2 Lava samples")
    p.add_argument("--out", default=str(RESULTS / "study_dalif_vs_lif"),
                   help="output stem: STEM.json, STEM.png, STEM.svg")
    p.add_argument("--resume", action="store_true",
                   help="keep the runs STEM.json already holds (same training options) and do the rest")
    if p.parse_known_args(argv)[0].quick:  # new defaults: what is given still counts
        p.set_defaults(seeds="0", epochs=1, qat_epochs=1, tasks="digits", lava_samples=2)
    args = p.parse_args(argv)
    try:
        args.seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        p.error(f"--seeds: expected comma-separated integers, got {args.seeds!r}")
    tasks = [t for t in args.tasks.split(",") if t]
    variants = [v for v in args.variants.split(",") if v]
    for name, given, known in (("--tasks", tasks, TASKS), ("--variants", variants, VARIANTS)):
        unknown = [g for g in given if g not in known]
        if unknown:
            p.error(f"{name}: unknown {unknown}; known: {list(known)}")
    if min(args.epochs, args.qat_epochs) < 1 or args.lava_samples < 0:
        p.error("--epochs and --qat-epochs must be at least 1, --lava-samples at least 0")
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    chip = load_chip("loihi")
    stem = Path(args.out)
    stem.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    runs: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    if args.resume and stem.with_suffix(".json").exists():
        runs = _earlier_runs(stem.with_suffix(".json"), args)
    done = {(r["task"], r["model"], r["variant"], r["T"], r["seed"]) for r in runs}
    for name in tasks:
        task = TASKS[name]
        data = _load(task, args)
        if isinstance(data, str):
            skipped[name] = data
            print(f"skip {name}: {data}", flush=True)
            continue
        for model in task.models:
            for steps in task.timesteps:
                for variant in variants:
                    for seed in args.seeds:
                        if (task.dataset, model, variant, steps, seed) in done:
                            continue
                        record = run_one(task, model, variant, steps, seed, data, args, chip)
                        runs.append(record)
                        _write_report(stem, runs, skipped, args, variants, chip, started,
                                      complete=False)
                        print(f"{name:<10} {model:<8} {variant:<15} T={steps:<2} seed {seed}: "
                              f"float {record['float_acc']:.4f} ptq {record['ptq_acc']:.4f} "
                              f"qat {record['qat_acc']:.4f} energy {record['energy_uj']:.3f} µJ "
                              f"lava {record.get('lava', {}).get('agree', '-')} "
                              f"({record['seconds']:.0f} s)", flush=True)
    if not runs:
        print("nothing ran", file=sys.stderr)
        return 2
    report = _write_report(stem, runs, skipped, args, variants, chip, started, complete=True)
    paths = plot(report["rows"], stem)
    print(report["table_markdown"])
    print("\n".join(report["verdicts"]))
    print(f"wrote {stem.with_suffix('.json')}, {', '.join(map(str, paths))} "
          f"({report['wall_seconds']:.0f} s)")
    return 0


_SAME_RUN = ("epochs", "lr", "qat_epochs", "qat_lr", "lava_samples", "limit_train", "limit_test")


def _earlier_runs(path: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The runs of an interrupted study, if it trained as this one does (else exit 2)."""
    earlier = json.loads(path.read_text())
    changed = [k for k in _SAME_RUN if earlier["options"].get(k) != getattr(args, k)]
    if changed:
        print(f"--resume: {path} was made with other {', '.join('--' + k.replace('_', '-') for k in changed)}",
              file=sys.stderr)
        raise SystemExit(2)
    print(f"resuming: {len(earlier['runs'])} runs from {path}", flush=True)
    return list(earlier["runs"])


def _write_report(stem: Path, runs: list[dict[str, Any]], skipped: dict[str, str],
                  args: argparse.Namespace, variants: list[str], chip: Any,
                  started: float, complete: bool) -> dict[str, Any]:
    """STEM.json with every run so far and their summary: rewritten after each run, so an
    interrupted study keeps what it measured."""
    rows = summarize(runs)
    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "python": platform.python_version(), "torch": torch.__version__},
        "wall_seconds": time.perf_counter() - started,
        "complete": complete,
        "options": {k: v for k, v in vars(args).items() if k not in ("out",)},
        "tasks_run": sorted({r["task"] for r in runs}), "tasks_skipped": skipped,
        "variants": {v: VARIANTS[v] for v in variants},
        "chip": chip.name,
        "rows": rows, "runs": runs, "table_markdown": markdown_table(rows),
        "verdicts": verdicts(rows),
    }
    stem.with_suffix(".json").write_text(json.dumps(report, indent=1, default=float) + "\n")
    return report


if __name__ == "__main__":
    sys.exit(main())
