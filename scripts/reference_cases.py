"""The pykalman reference cases in Tests/Fixtures/reference, one definition per case.

Run through `scripts/make-reference` (which installs pykalman into .venv-reference). For each
case this writes the case's inputs (params.json, em_init.json, observations.csv, and
states.csv when the case knows the true states) unless they are frozen copies, recomputes
expected.json with pykalman, and rewrites a file only when its bytes change, so a second run
changes nothing. When ../shared/reference (or $GAZEFILTER_SHARED/reference) exists, each case
found there is compared with its copy within the tolerances of the reference README
(1e-9 relative or absolute for filter, smoother and log-likelihood; 1e-6 for EM).

To add a case, append a `Case` to CASES: either `frozen=True` (inputs already in the fixture
folder, copied once from ../shared/reference/<name> when absent), or a `make` function that
draws the inputs from a seeded generator and returns them as a `CaseInputs`.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import sys
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import pykalman
from pykalman import KalmanFilter

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures", "reference")
PARAMETER_KEYS = ["D", "Q", "H", "R", "mu_0", "sigma_0"]
# Parameter key -> pykalman's constructor argument and EM variable name.
PYKALMAN_NAMES = {
    "D": "transition_matrices",
    "Q": "transition_covariance",
    "H": "observation_matrices",
    "R": "observation_covariance",
    "mu_0": "initial_state_mean",
    "sigma_0": "initial_state_covariance",
    "b": "transition_offsets",
    "d": "observation_offsets",
}
FILTER_TOLERANCE = 1e-9
EM_TOLERANCE = 1e-6


@dataclass
class CaseInputs:
    """What a generated case writes: parameters, EM's start, observations (T×m, NaN = masked cell)."""

    params: dict
    em_init: dict
    observations: np.ndarray
    rate_hz: float = 60.0
    states: Optional[np.ndarray] = None


@dataclass
class Case:
    """One reference case: its folder name, how its masked steps are marked, and what EM fits."""

    name: str
    description: str
    mask_negative: bool
    em_vars: list = field(default_factory=lambda: ["D", "Q", "H", "R"])
    em_iterations: int = 10
    frozen: bool = False
    make: Optional[Callable[[np.random.Generator], CaseInputs]] = None
    seed: int = 0


CASES = [
    Case("gaze_2d",
         "600 steps of simulated 60 Hz gaze in a 1024x768 screen, 38 lost samples written as negative "
         "coordinates (sometimes only one); params are the course material's EM fit",
         mask_negative=True, frozen=True),
    Case("oscillator",
         "the course material's noisy 2-D oscillator, 100 steps, no mask (negative values are data here)",
         mask_negative=False, frozen=True),
    Case("oscillator_masked",
         "the oscillator with 16 masked steps (empty cells)",
         mask_negative=False, frozen=True),
]


# ---------------------------------------------------------------------------------------------
# Files


def shared_reference_path() -> str:
    """../shared/reference beside the checkout, or $GAZEFILTER_SHARED/reference."""
    base = os.environ.get("GAZEFILTER_SHARED") or os.path.join(ROOT, "..", "shared")
    return os.path.normpath(os.path.join(base, "reference"))


def shared_reference() -> Optional[str]:
    """The shared reference folder when it exists, else None."""
    path = shared_reference_path()
    return path if os.path.isdir(path) else None


def write_if_changed(path: str, text: str) -> bool:
    """Writes `text` to `path` only when it differs from what is there; True when written."""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as existing:
            if existing.read() == text:
                return False
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temporary, path)
    return True


def parameters_text(parameters: dict) -> str:
    return json.dumps({k: np.asarray(v).tolist() for k, v in parameters.items()}, indent=1) + "\n"


def observations_text(observations: np.ndarray, rate_hz: float, header: str = "y") -> str:
    out = io.StringIO()
    columns = ["t"] + [f"{header}{i}" for i in range(observations.shape[1])]
    out.write(",".join(columns) + "\n")
    for step, row in enumerate(observations):
        cells = [repr(step / rate_hz)] + ["" if math.isnan(v) else repr(float(v)) for v in row]
        out.write(",".join(cells) + "\n")
    return out.getvalue()


def read_observations(path: str) -> np.ndarray:
    """The observation columns of a case's CSV (T×m), NaN where a cell is empty."""
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    return np.array([[float(v) if v != "" else math.nan for v in row[1:]] for row in rows])


def read_json(path: str):
    with open(path) as handle:
        return json.load(handle)


# ---------------------------------------------------------------------------------------------
# pykalman


def masked_observations(values: np.ndarray, mask_negative: bool) -> np.ma.MaskedArray:
    """pykalman's input: a step is masked when any of its cells is empty (or negative, for gaze)."""
    lost = np.isnan(values)
    if mask_negative:
        lost |= np.nan_to_num(values, nan=0.0) < 0
    step_lost = lost.any(axis=1, keepdims=True)
    return np.ma.array(np.nan_to_num(values), mask=np.repeat(step_lost, values.shape[1], axis=1))


def kalman_filter(parameters: dict) -> KalmanFilter:
    """pykalman's filter for a parameter file's keys (offsets b and d when present)."""
    arguments = {PYKALMAN_NAMES[key]: np.asarray(value, dtype=float) for key, value in parameters.items()
                 if key in PYKALMAN_NAMES}
    return KalmanFilter(**arguments)


def fitted_parameters(model: KalmanFilter, keys: list) -> dict:
    return {key: np.asarray(getattr(model, PYKALMAN_NAMES[key])).tolist() for key in keys}


def expected_results(case: Case, folder: str) -> dict:
    """pykalman's numbers for the case whose inputs are in `folder` (the reference README's keys)."""
    parameters = read_json(os.path.join(folder, "params.json"))
    em_init = read_json(os.path.join(folder, "em_init.json"))
    observations = masked_observations(read_observations(os.path.join(folder, "observations.csv")), case.mask_negative)
    model = kalman_filter(parameters)
    filtered_means, filtered_covariances = model.filter(observations)
    smoothed_means, smoothed_covariances = model.smooth(observations)
    result = {
        "n_timesteps": int(observations.shape[0]),
        "n_masked": int(np.ma.getmaskarray(observations).any(axis=1).sum()),
        "mask_negative": case.mask_negative,
        "filter": {
            "means": filtered_means.tolist(),
            "covariances": filtered_covariances.tolist(),
            "loglikelihood": float(model.loglikelihood(observations)),
        },
        "smoother": {"means": smoothed_means.tolist(), "covariances": smoothed_covariances.tolist()},
    }
    states_path = os.path.join(folder, "states.csv")
    if os.path.exists(states_path):
        states = read_observations(states_path)
        result["mse"] = {
            "filter": float(np.mean((filtered_means - states) ** 2)),
            "smoother": float(np.mean((smoothed_means - states) ** 2)),
        }
    em_model = kalman_filter(em_init)
    em_names = [PYKALMAN_NAMES[key] for key in case.em_vars]
    loglikelihoods = [float(em_model.loglikelihood(observations))]
    for _ in range(case.em_iterations):
        em_model = em_model.em(observations, n_iter=1, em_vars=em_names)
        loglikelihoods.append(float(em_model.loglikelihood(observations)))
    result["em"] = {
        "em_vars": case.em_vars,
        "iterations": case.em_iterations,
        "fitted": fitted_parameters(em_model, [k for k in PARAMETER_KEYS + ["b", "d"] if k in em_init or k in case.em_vars]),
        "loglikelihoods": loglikelihoods,
    }
    return result


# ---------------------------------------------------------------------------------------------
# Comparison with ../shared/reference


def first_mismatch(actual, expected, tolerance: float, label: str) -> Optional[str]:
    """The first entry where two nested lists differ beyond `tolerance` (relative, or absolute near zero)."""
    a, e = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    if a.shape != e.shape:
        return f"{label}: shape {a.shape}, shared has {e.shape}"
    bound = np.maximum(tolerance * np.abs(e), tolerance)
    bad = np.argwhere(~(np.abs(a - e) <= bound))
    if bad.size:
        index = tuple(int(i) for i in bad[0])
        return f"{label}{list(index)}: {float(a[index])!r} vs shared {float(e[index])!r}"
    return None


def compare_with_shared(case: Case, folder: str, shared_folder: str) -> list:
    """Every difference between our fixture and the shared copy of the case (empty when they agree)."""
    problems = []
    for name in ["params.json", "em_init.json"]:
        if read_json(os.path.join(folder, name)) != read_json(os.path.join(shared_folder, name)):
            problems.append(f"{name} differs from the shared copy")
    ours_obs = read_observations(os.path.join(folder, "observations.csv"))
    shared_obs = read_observations(os.path.join(shared_folder, "observations.csv"))
    if ours_obs.shape != shared_obs.shape or not np.array_equal(np.isnan(ours_obs), np.isnan(shared_obs)) \
            or not np.array_equal(np.nan_to_num(ours_obs), np.nan_to_num(shared_obs)):
        problems.append("observations.csv differs from the shared copy")
    ours, theirs = read_json(os.path.join(folder, "expected.json")), read_json(os.path.join(shared_folder, "expected.json"))
    for key in ["n_timesteps", "n_masked"]:
        if ours[key] != theirs[key]:
            problems.append(f"{key}: {ours[key]} vs shared {theirs[key]}")
    checks = [(("filter", "means"), FILTER_TOLERANCE), (("filter", "covariances"), FILTER_TOLERANCE),
              (("filter", "loglikelihood"), FILTER_TOLERANCE), (("smoother", "means"), FILTER_TOLERANCE),
              (("smoother", "covariances"), FILTER_TOLERANCE), (("em", "loglikelihoods"), EM_TOLERANCE)]
    checks += [(("em", "fitted", key), EM_TOLERANCE) for key in theirs["em"]["fitted"]]
    for path, tolerance in checks:
        a, e = ours, theirs
        for key in path:
            a, e = a[key], e[key]
        problem = first_mismatch(a, e, tolerance, ".".join(path))
        if problem:
            problems.append(problem)
    if ours["em"]["em_vars"] != theirs["em"]["em_vars"] or ours["em"]["iterations"] != theirs["em"]["iterations"]:
        problems.append("em_vars or iterations differ from the shared copy")
    if "mse" in theirs and "mse" in ours:
        for key in ["filter", "smoother"]:
            problem = first_mismatch(ours["mse"][key], theirs["mse"][key], FILTER_TOLERANCE, f"mse.{key}")
            if problem:
                problems.append(problem)
    return problems


# ---------------------------------------------------------------------------------------------


def prepare_inputs(case: Case, folder: str, shared: Optional[str], check: bool) -> list:
    """Writes (or, with `check`, compares) the case's inputs; returns the names of files that changed."""
    changed = []
    if case.frozen:
        for name in ["params.json", "em_init.json", "observations.csv"]:
            path = os.path.join(folder, name)
            if os.path.exists(path):
                continue
            source = os.path.join(shared, case.name, name) if shared else None
            if not source or not os.path.exists(source):
                raise SystemExit(f"make-reference: {case.name}: {path} is missing and there is no shared copy to take it from")
            with open(source, encoding="utf-8") as handle:
                text = handle.read()
            if not check:
                write_if_changed(path, text)
            changed.append(name)
        return changed
    inputs = case.make(np.random.default_rng(case.seed))
    texts = {
        "params.json": parameters_text(inputs.params),
        "em_init.json": parameters_text(inputs.em_init),
        "observations.csv": observations_text(inputs.observations, inputs.rate_hz),
    }
    if inputs.states is not None:
        texts["states.csv"] = observations_text(inputs.states, inputs.rate_hz, header="x")
    for name, text in texts.items():
        path = os.path.join(folder, name)
        if check:
            if not os.path.exists(path) or open(path, encoding="utf-8").read() != text:
                changed.append(name)
        elif write_if_changed(path, text):
            changed.append(name)
    return changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 when a fixture would change")
    parser.add_argument("cases", nargs="*", help="case names (default: every case)")
    arguments = parser.parse_args()
    known = {case.name: case for case in CASES}
    unknown = [name for name in arguments.cases if name not in known]
    if unknown:
        print(f"make-reference: unknown case {', '.join(unknown)} (known: {', '.join(known)})", file=sys.stderr)
        return 2
    selected = [known[name] for name in arguments.cases] or CASES
    shared = shared_reference()
    print(f"pykalman {pykalman.__version__ if hasattr(pykalman, '__version__') else '?'}, numpy {np.__version__}; "
          f"fixtures in {os.path.relpath(FIXTURES, ROOT)}")
    failures = 0
    for case in selected:
        folder = os.path.join(FIXTURES, case.name)
        changed = prepare_inputs(case, folder, shared, arguments.check)
        if arguments.check and changed and not case.frozen:
            print(f"{case.name}: inputs would change: {', '.join(changed)}")
            failures += 1
            continue
        text = json.dumps(expected_results(case, folder)) + "\n"
        path = os.path.join(folder, "expected.json")
        if arguments.check:
            same = os.path.exists(path) and open(path, encoding="utf-8").read() == text
            state = "expected.json up to date" if same else "expected.json would change"
            failures += 0 if same else 1
        else:
            written = write_if_changed(path, text)
            state = ("wrote " + ", ".join(changed + ["expected.json"])) if written or changed else "unchanged"
        if shared is None:
            comparison = f"no {os.path.relpath(shared_reference_path(), ROOT)}: not compared"
        elif not os.path.exists(os.path.join(shared, case.name, "expected.json")):
            comparison = "not in ../shared/reference: not compared"
        else:
            problems = compare_with_shared(case, folder, os.path.join(shared, case.name))
            if problems:
                failures += 1
                comparison = "DIFFERS from ../shared/reference: " + "; ".join(problems)
            else:
                comparison = "matches ../shared/reference (filter and smoother within 1e-9, EM within 1e-6)"
        print(f"{case.name}: {state}; {comparison}")
    if shared is not None:
        missing = sorted(set(os.listdir(shared)) - set(known))
        missing = [name for name in missing if os.path.isdir(os.path.join(shared, name))]
        if missing:
            print(f"cases in ../shared/reference without a definition here: {', '.join(missing)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
