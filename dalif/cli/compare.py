"""`dalif compare`: one NIR model on several backends, one table (and JSON) side by side.

Each backend runs exactly as `dalif simulate --backend B` runs it (``simulate.execute``), so
every entry of the JSON holds the RESULT.json that command would write. loihi-sim, the
reference, always runs first: the other backends' predictions, spikes and synaptic ops are
compared with it. SANA-FE runs another timing (the naive pipeline, DESIGN §3): its
differences are taken from hardware_sim's run in that same timing (its RESULT's
``hardware_sim_pipelined``), and the table says so.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from dalif.cli.common import (
    UserError,
    guard_outputs,
    output_file,
)
from dalif.cli.engine import engine_options
from dalif.cli.simulate import model_args

REFERENCE = "loihi-sim"


def add_parser(sub: Any) -> None:
    from deploy import backend_names

    names = backend_names()
    p = sub.add_parser(
        "compare", help="run a NIR model on several backends and tabulate them side by side",
        description="Run one NIR model on several backends (each as `dalif simulate --backend B` "
                    "runs it) and print accuracy, prediction agreement with loihi-sim, spikes and "
                    "synaptic ops per layer with their difference from loihi-sim, and wall time.")
    p.add_argument("model", help="NIR file (from `dalif export`, or a foreign NIR graph)")
    p.add_argument("--backends", default=",".join(names),
                   help=f"comma-separated backends, of {', '.join(names)} (loihi-sim, the "
                        "reference, always runs)")
    p.add_argument("--out", help="JSON file to write: every backend's RESULT.json and the comparison")
    model_args(p)
    p.set_defaults(func=run, timing="zero-delay")


def _backends(text: str) -> list[str]:
    from deploy import backend_names

    known = backend_names()
    asked = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in asked if name not in known]
    if unknown or not asked:
        raise UserError(f"--backends: unknown backend {', '.join(unknown) or '(none given)'}; "
                        f"known: {','.join(known)}")
    return [REFERENCE] + [name for name in dict.fromkeys(asked) if name != REFERENCE]


def run(args: argparse.Namespace) -> dict[str, Any]:
    from dalif.cli.simulate import execute, load_run
    from deploy import BackendError
    from hardware_sim.files import write_json

    guard_outputs(args, inputs=("model", "input", "labels"), files=("out",))
    out = output_file(args.out) if args.out else None
    names = _backends(args.backends)
    options = engine_options(args)
    model, x, y = load_run(args)
    results: dict[str, dict[str, Any]] = {}
    wall: dict[str, float] = {}
    errors: dict[str, str] = {}
    for name in names:
        started = time.perf_counter()
        try:
            results[name] = execute(args, name, model, x, y, options)
        except (BackendError, UserError) as err:  # a backend that cannot run here, or this model
            if name == REFERENCE:
                raise
            errors[name] = str(err)
            continue
        wall[name] = time.perf_counter() - started
    comparison = compare_results(results, wall)
    report = {"model": str(args.model), "dataset": args.dataset, "samples": len(x),
              "reference": REFERENCE, "backends": comparison, "errors": errors}
    if out:
        write_json(out, report)
    print_table(report)
    if out:
        print(f"wrote {out}")
    if errors:
        raise UserError("; ".join(f"backend {name} did not run: {err}" for name, err in errors.items()))
    return report


def compare_results(results: dict[str, dict[str, Any]], wall: dict[str, float]) -> dict[str, Any]:
    """Per backend: its RESULT.json, wall time, agreement of its predictions with loihi-sim's,
    and per layer its spikes and synaptic ops with the difference from the run it is compared
    with (loihi-sim's; for sanafe, hardware_sim's in SANA-FE's pipelined timing)."""
    reference = results[REFERENCE]
    table: dict[str, Any] = {}
    for name, result in results.items():
        pipelined = result.get("hardware_sim_pipelined")
        if pipelined:
            compared_with = "loihi-sim --timing pipelined"
            base = {layer["name"]: {field: layer[field]["hardware_sim"]
                                    for field in ("spikes", "synaptic_ops")}
                    for layer in pipelined["layers"]}
        else:
            compared_with = REFERENCE
            base = {layer["name"]: layer for layer in reference["layers"]}
        agree = [a == b for a, b in zip(result["predictions"], reference["predictions"])]
        table[name] = {
            "timing": result["timing"],
            "accuracy": result["accuracy"],
            "agreement_with_loihi_sim": sum(agree) / len(agree) if agree else None,
            "compared_with": compared_with,
            "layers": [{"name": layer["name"], **{
                key: value for field in ("spikes", "synaptic_ops") for key, value in (
                    (field, layer[field]),
                    (f"{field}_difference", layer[field] - base[layer["name"]][field]))}}
                for layer in result["layers"]],
            "wall_s": wall[name],
            "result": result,
        }
    return table


def print_table(report: dict[str, Any]) -> None:
    """The comparison as three small tables: per backend, then spikes and synaptic ops per layer."""
    rows = report["backends"]
    print(f"{report['model']} on {report['samples']} {report['dataset']} test samples")
    print(f"{'backend':<11}{'timing':<13}{'accuracy':>9}{'agree':>9}{'wall s':>9}")
    for name, row in rows.items():
        agree = row["agreement_with_loihi_sim"]
        print(f"{name:<11}{row['timing'].split(',')[0]:<13}{row['accuracy']:>9.4f}"
              f"{'' if agree is None else f'{agree:.2%}':>9}{row['wall_s']:>9.2f}")
    for field, title in (("spikes", "spikes"), ("synaptic_ops", "synaptic ops")):
        print(f"\n{title} per layer (difference from the run compared with)")
        print(f"{'layer':<12}" + "".join(f"{name:>22}" for name in rows))
        for i, layer in enumerate(next(iter(rows.values()))["layers"]):
            cells = []
            for name, row in rows.items():
                entry = row["layers"][i]
                cells.append(str(entry[field]) if name == REFERENCE
                             else f"{entry[field]} ({entry[f'{field}_difference']:+d})")
            print(f"{layer['name']:<12}" + "".join(f"{cell:>22}" for cell in cells))
    for name, row in rows.items():
        if row["compared_with"] != REFERENCE:
            print(f"\n{name}: {row['result']['hardware_sim_pipelined']['note']} Its differences are "
                  f"from {row['compared_with']}; its agreement with that run: "
                  f"{row['result']['hardware_sim_pipelined']['prediction_agreement']:.2%}.")
    for name, err in report["errors"].items():
        print(f"{name}: did not run: {err}")
