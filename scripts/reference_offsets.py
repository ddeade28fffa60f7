"""pykalman's numbers for models with offsets (MODEL.md, "Offsets"): the offset reference cases.

    x_t = D x_{t-1} + b_{t-1} + w_t,   y_t = H x_t + d + v_t

pykalman's `transition_offsets[t]` is the offset of the step from t to t+1 (applied when it
predicts step t+1), so a time-varying offset file has T-1 rows. Each case is a folder like the
shared reference cases (params.json, em_init.json, observations.csv, expected.json) plus, for
time-varying transition offsets, transition_offsets.csv (header b0,b1,...; row t = the offset
of the step t -> t+1). params.json and em_init.json carry `b` (n) and `d` (m); a time-varying b
is in the CSV and params.json's `b` is then absent.

Usage: reference_offsets.py OUT_DIR   (writes OUT_DIR/<case>/...; deterministic: seeded)
"""
import json
import os
import sys
import warnings

import numpy as np
from pykalman import KalmanFilter

EM_NAMES = {  # our names -> pykalman's em_vars
    "D": "transition_matrices", "Q": "transition_covariance", "H": "observation_matrices",
    "R": "observation_covariance", "mu_0": "initial_state_mean", "sigma_0": "initial_state_covariance",
    "b": "transition_offsets", "d": "observation_offsets",
}


def simulate(rng, D, Q, H, R, mu0, sigma0, offsets, d, T):
    """States and observations drawn from the model with per-step offsets (T-1 rows)."""
    n, m = D.shape[0], H.shape[0]
    x = np.zeros((T, n))
    y = np.zeros((T, m))
    x[0] = rng.multivariate_normal(mu0, sigma0)
    for t in range(T):
        if t > 0:
            x[t] = D @ x[t - 1] + offsets[t - 1] + rng.multivariate_normal(np.zeros(n), Q)
        y[t] = H @ x[t] + d + rng.multivariate_normal(np.zeros(m), R)
    return x, y


def gaze_constant():
    """n = m = 2 gaze reverting to the screen's centre (b = (I - D)·centre), d a calibration
    shift, the first step and runs of samples masked; EM of D, Q, H, R, b, d."""
    rng = np.random.default_rng(1201)
    T = 300
    D = np.array([[0.97, 0.01], [-0.005, 0.98]])
    centre = np.array([512.0, 384.0])
    b = (np.eye(2) - D) @ centre
    Q = np.array([[40.0, 8.0], [8.0, 30.0]])
    H = np.array([[1.0, 0.02], [-0.01, 0.99]])
    d = np.array([6.0, -4.0])
    R = np.array([[25.0, 5.0], [5.0, 30.0]])
    mu0, sigma0 = np.array([480.0, 400.0]), np.array([[400.0, 0.0], [0.0, 400.0]])
    _, y = simulate(rng, D, Q, H, R, mu0, sigma0, np.tile(b, (T - 1, 1)), d, T)
    mask = np.zeros(T, bool)
    mask[0] = True
    for start, length in [(40, 6), (130, 15), (222, 3), (299, 1)]:
        mask[start:start + length] = True
    params = dict(D=D, Q=Q, H=H, R=R, mu_0=mu0, sigma_0=sigma0, b=b, d=d)
    em_init = dict(D=np.eye(2) * 0.9, Q=np.eye(2) * 10.0, H=np.eye(2), R=np.eye(2) * 10.0,
                   mu_0=mu0, sigma_0=sigma0, b=np.zeros(2), d=np.zeros(2))
    return dict(name="offsets_gaze_2d", params=params, offsets=None, y=y, mask=mask, em_init=em_init,
                em_init_offsets=None, em_vars=["D", "Q", "H", "R", "b", "d"], iterations=10, rate=250.0)


def velocity_model():
    """n = 4 (position, velocity), m = 2, time-varying transition offsets (a pull that changes
    every step, as a known stimulus would), constant d, a masked first step and masked runs."""
    rng = np.random.default_rng(1202)
    T = 240
    dt = 1.0
    D = np.array([[1, 0, dt, 0], [0, 1, 0, dt], [0, 0, 0.8, 0], [0, 0, 0, 0.8]], float)
    Q = np.diag([1.0, 1.0, 4.0, 3.0])
    Q[2, 3] = Q[3, 2] = 1.0
    H = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0]])
    d = np.array([-3.0, 2.5])
    R = np.array([[16.0, -3.0], [-3.0, 12.0]])
    mu0 = np.array([100.0, 50.0, 0.0, 0.0])
    sigma0 = np.diag([100.0, 100.0, 25.0, 25.0])
    steps = np.arange(T - 1)
    offsets = np.stack([np.zeros(T - 1), np.zeros(T - 1),
                        3.0 * np.sin(2 * np.pi * steps / 60.0) + 0.5,
                        2.0 * np.cos(2 * np.pi * steps / 45.0) - 0.25], axis=1)
    _, y = simulate(rng, D, Q, H, R, mu0, sigma0, offsets, d, T)
    mask = np.zeros(T, bool)
    mask[0] = True
    for start, length in [(17, 4), (90, 12), (180, 1), (181, 2)]:
        mask[start:start + length] = True
    params = dict(D=D, Q=Q, H=H, R=R, mu_0=mu0, sigma_0=sigma0, d=d)
    return params, offsets, y, mask


def time_varying_fit_offsets():
    """The velocity model filtered and smoothed with its per-step offsets; EM of one constant
    b, d, Q and R from b = 0 (EM fits a constant b, as pykalman does)."""
    params, offsets, y, mask = velocity_model()
    em_init = dict(params, Q=np.eye(4) * 2.0, R=np.eye(2) * 5.0, b=np.zeros(4), d=np.zeros(2))
    return dict(name="offsets_time_varying", params=params, offsets=offsets, y=y, mask=mask, em_init=em_init,
                em_init_offsets=None, em_vars=["Q", "R", "b", "d"], iterations=8, rate=60.0)


def time_varying_fixed_offsets():
    """The velocity model; EM of D, Q, H, R, d with the per-step offsets given and kept."""
    params, offsets, y, mask = velocity_model()
    em_init = dict(params, D=np.eye(4) * 0.95, Q=np.eye(4) * 2.0, R=np.eye(2) * 5.0, d=np.zeros(2))
    return dict(name="offsets_time_varying_fixed_b", params=params, offsets=offsets, y=y, mask=mask,
                em_init=em_init, em_init_offsets=offsets, em_vars=["D", "Q", "H", "R", "d"], iterations=8,
                rate=60.0)


CASES = [gaze_constant, time_varying_fit_offsets, time_varying_fixed_offsets]


def kalman(p, offsets):
    n, m = len(p["mu_0"]), np.asarray(p["H"]).shape[0]
    return KalmanFilter(
        transition_matrices=np.asarray(p["D"]), transition_covariance=np.asarray(p["Q"]),
        observation_matrices=np.asarray(p["H"]), observation_covariance=np.asarray(p["R"]),
        initial_state_mean=np.asarray(p["mu_0"]), initial_state_covariance=np.asarray(p["sigma_0"]),
        transition_offsets=np.asarray(offsets if offsets is not None else p.get("b", np.zeros(n))),
        observation_offsets=np.asarray(p.get("d", np.zeros(m))),
        n_dim_state=n, n_dim_obs=m)


def fitted(kf):
    out = dict(D=kf.transition_matrices, Q=kf.transition_covariance, H=kf.observation_matrices,
               R=kf.observation_covariance, mu_0=kf.initial_state_mean, sigma_0=kf.initial_state_covariance,
               b=kf.transition_offsets, d=kf.observation_offsets)
    # a per-step b that EM kept is the transition_offsets.csv, not a parameter-file entry
    return {k: np.asarray(v).tolist() for k, v in out.items() if not (k == "b" and np.ndim(v) == 2)}


def plain(p):
    return {k: np.asarray(v).tolist() for k, v in p.items()}


def expected(case):
    y = np.ma.array(case["y"], mask=np.repeat(case["mask"][:, None], case["y"].shape[1], axis=1))
    kf = kalman(case["params"], case["offsets"])
    fm, fc = kf.filter(y)
    sm, sc = kf.smooth(y)
    em_kf = kalman(case["em_init"], case["em_init_offsets"])
    em_vars = [EM_NAMES[v] for v in case["em_vars"]]
    lls = [em_kf.loglikelihood(y)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pykalman warns that a time-varying b becomes constant
        for _ in range(case["iterations"]):
            em_kf = em_kf.em(y, n_iter=1, em_vars=em_vars)
            lls.append(em_kf.loglikelihood(y))
    return {
        "n_timesteps": int(len(y)), "n_masked": int(case["mask"].sum()),
        "filter": {"means": fm.tolist(), "covariances": fc.tolist(), "loglikelihood": float(kf.loglikelihood(y))},
        "smoother": {"means": sm.tolist(), "covariances": sc.tolist()},
        "em": {"em_vars": case["em_vars"], "iterations": case["iterations"], "fitted": fitted(em_kf),
               "loglikelihoods": lls},
    }


def write_case(root, case):
    folder = os.path.join(root, case["name"])
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "params.json"), "w") as f:
        json.dump(plain(case["params"]), f, indent=1)
    init = dict(case["em_init"])
    if case["em_init_offsets"] is not None:
        init.pop("b", None)
    with open(os.path.join(folder, "em_init.json"), "w") as f:
        json.dump(plain(init), f, indent=1)
    y, mask, rate = case["y"], case["mask"], case["rate"]
    with open(os.path.join(folder, "observations.csv"), "w") as f:
        f.write("t," + ",".join(f"y{i}" for i in range(y.shape[1])) + "\n")
        for t in range(len(y)):
            cells = [""] * y.shape[1] if mask[t] else [repr(float(v)) for v in y[t]]
            f.write(repr(t / rate) + "," + ",".join(cells) + "\n")
    if case["offsets"] is not None:
        offsets = case["offsets"]
        with open(os.path.join(folder, "transition_offsets.csv"), "w") as f:
            f.write(",".join(f"b{i}" for i in range(offsets.shape[1])) + "\n")
            for row in offsets:
                f.write(",".join(repr(float(v)) for v in row) + "\n")
    with open(os.path.join(folder, "expected.json"), "w") as f:
        json.dump(expected(case), f)


def main(root):
    for make in CASES:
        write_case(root, make())


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: reference_offsets.py OUT_DIR")
    main(sys.argv[1])
