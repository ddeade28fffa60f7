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


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2)
