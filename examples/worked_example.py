"""From a response expression to a checked prediction, with a figure.

A researcher measured a device whose up steps shrink exponentially toward the upper bound and whose down
steps are constant (a typical ReRAM-like asymmetry). Where does Analog SGD converge on a noisy scalar
quadratic, and is the theory right for this device?

    python examples/worked_example.py [--out DIR]

Steps: (1) the response from expressions; (2) the symbolic derivation: F, G, the SP and the implicit
penalty R_c (arXiv 2502.06309, Thm 1); (3) the predicted stationary point of Analog SGD (the root of
the mean drift, eq. 42) and its small-bias approximation (eq. 43); (4) a simulation over many independent
chains; (5) the comparison within 3 standard errors, and a figure.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from aimc_theory import algorithms, device, objectives, response, simulation, symbolic


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=".", help="directory for worked_example.png (default .)")
    args = ap.parse_args(argv)

    # (1) the device: q+(w) = exp(-a w) (up steps shrink as w grows), q-(w) = 1 (constant down steps)
    resp = response.from_expressions("exp(-a*w)", "1", params={"a": 1.5}, range=(-1.0, 1.0), name="my-device")

    # (2) theory: F, G, SP, penalty
    d = symbolic.derive(resp)
    print(f"F = {d.F}\nG = {d.G}\nSP = {d.symmetric_point:.4f}, R'(SP) = {d.penalty_curvature:.4f}")
    print(f"penalty R_c(w) = {d.penalty}")

    # (3) prediction on f(w) = L/2 (w - w*)^2 with gradient noise s
    L, w_star, noise, lr = 1.0, 0.4, 0.5, 0.01
    fp = symbolic.analog_sgd_fixed_point(d, L, w_star, noise, lr)
    print(f"Analog SGD: predicted stationary point {fp.exact:.4f} (small-bias approximation "
          f"{fp.small_bias:.4f}); the optimum is {w_star}")

    # (4) simulation (NumPy; never sees the derivation), 4000 chains
    obj = objectives.ScalarQuadratic(L=L, w_star=w_star, noise=noise)
    res = simulation.simulate(obj, algorithms.analog_sgd(lr, device.Device(resp)), steps=6000, chains=4000, seed=0,
                         w0=0.0, record_every=20)
    mean, se = float(res.mean[0]), float(res.se[0])

    # (5) the check
    ok = abs(mean - fp.exact) <= 3 * se
    print(f"simulated {mean:.4f} +- {se:.4f} (SE over chains): {'AGREES' if ok else 'DISAGREES'} with the "
          f"prediction within 3 SE; bias toward the SP = {mean - w_star:+.4f}")

    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    steps = np.arange(res.trajectory.shape[0]) * 20
    ax.plot(steps, res.trajectory[:, 0], label="simulated mean over chains")
    ax.axhline(fp.exact, color="C1", ls="--", label=f"theory: drift root {fp.exact:.3f}")
    ax.axhline(w_star, color="k", lw=0.8, label=f"optimum w* = {w_star}")
    ax.axhline(d.symmetric_point, color="C2", lw=0.8, ls=":", label=f"SP = {d.symmetric_point:.3f}")
    ax.set_xlabel("step")
    ax.set_ylabel("w")
    ax.set_title("Analog SGD on my-device: pulled from w* toward the SP")
    ax.legend(fontsize=8)
    out = Path(args.out) / "worked_example.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    print(f"figure: {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
