"""pykalman's side of scripts/bench: the same work as gazebench, timed the same way.

Prints `key value` lines: ns per filter step (n=m=2 and n=4, m=2; pykalman filters a whole
sequence, so this is its batch filter's time per step) and ms per EM iteration.
"""
import json
import sys
import time

import numpy as np
from pykalman import KalmanFilter


def load_params(path):
    with open(path) as f:
        p = json.load(f)
    return dict(
        transition_matrices=np.array(p["D"]), transition_covariance=np.array(p["Q"]),
        observation_matrices=np.array(p["H"]), observation_covariance=np.array(p["R"]),
        initial_state_mean=np.array(p["mu_0"]), initial_state_covariance=np.array(p["sigma_0"]))


def load_observations(path):
    data = np.genfromtxt(path, delimiter=",", skip_header=1)
    return data[:, 1:]


def best_of(repeats, body):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        body()
        best = min(best, time.perf_counter() - start)
    return best


def main(data_dir, em_iterations):
    observations = load_observations(f"{data_dir}/em_data.csv")
    kf = KalmanFilter(**load_params(f"{data_dir}/params.json"))
    steps = 5000
    print("step_ns_n2", best_of(3, lambda: kf.filter(observations[:steps])) / steps * 1e9)
    kf4 = KalmanFilter(**load_params(f"{data_dir}/velocity.json"))
    _, obs4 = kf4.sample(steps, random_state=np.random.RandomState(1))
    print("step_ns_n4", best_of(3, lambda: kf4.filter(obs4)) / steps * 1e9)
    init = load_params(f"{data_dir}/em_init.json")
    em_vars = ["transition_matrices", "transition_covariance", "observation_matrices", "observation_covariance"]

    def run_em():
        KalmanFilter(**init).em(observations, n_iter=em_iterations, em_vars=em_vars)

    print("em_ms_per_iteration", best_of(1, run_em) / em_iterations * 1e3)
    sys.stdout.flush()




def em_per_sample_iteration(recording, samples, iterations, params_path):
    """Seconds per sample per EM iteration of pykalman's em on the first `samples` of a recording."""
    data = np.genfromtxt(recording, delimiter=",", skip_header=1, max_rows=samples)[:, 1:]
    masked = np.ma.masked_array(data, mask=np.repeat((data < 0).any(axis=1)[:, None], 2, axis=1))
    init = load_params(params_path)
    em_vars = ["transition_matrices", "transition_covariance", "observation_matrices", "observation_covariance"]
    start = time.perf_counter()
    KalmanFilter(**init).em(masked, n_iter=iterations, em_vars=em_vars)
    return (time.perf_counter() - start) / iterations / samples


if __name__ == "__main__":
    if sys.argv[1] == "refit":
        # refit RECORDING SLICE ITERATIONS PARAMS FULL_SAMPLES FULL_ITERATIONS
        slice_samples, iterations = int(sys.argv[3]), int(sys.argv[4])
        per = em_per_sample_iteration(sys.argv[2], slice_samples, iterations, sys.argv[5])
        print("refit_em_seconds_per_sample_iteration", per)
        print("refit_em_seconds_scaled", per * int(sys.argv[6]) * int(sys.argv[7]))
    else:
        main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2)
